package panel

import "net"

// netDialer opens raw unix sockets for protocol-level tests.
type netDialer struct{}

func (netDialer) dial(path string) (net.Conn, error)       { return net.Dial("unix", path) }
func (netDialer) listen(path string) (net.Listener, error) { return net.Listen("unix", path) }
