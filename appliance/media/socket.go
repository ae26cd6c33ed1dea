package media

import (
	"net"
	"net/netip"
)

// rtpSocket is one leg's RTP socket. Writes may come from the relay and
// from a prompt being played at the same time; after close they fail with
// net.ErrClosed. close is idempotent; an event loop's socket leaves its
// loop before its descriptor is closed, so once close returns no loop is
// handling its datagrams (goroutine mode's reader ends on its own: the
// session waits for it).
type rtpSocket interface {
	localAddr() netip.AddrPort
	writeTo(b []byte, to netip.AddrPort) error
	close() error
}

// loopSocket is a socket that the shared event loops receive from
// (rxloop_linux.go) rather than a goroutine of its own.
type loopSocket interface {
	rtpSocket
	// receive starts handing the socket's datagrams to s.handle as leg
	// l's. It must not take the session's lock: it is called with it
	// held.
	receive(s *Session, l Leg) error
}

// udpSocket is a socket of package net, read by a goroutine per leg
// (Session.readLoop): the portable mode, and the one tests compare the
// event loops with.
type udpSocket struct {
	conn  *net.UDPConn
	local netip.AddrPort
}

func listenUDP(addr netip.AddrPort) (*udpSocket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	return &udpSocket{conn: c, local: c.LocalAddr().(*net.UDPAddr).AddrPort()}, nil
}

func (u *udpSocket) localAddr() netip.AddrPort { return u.local }

func (u *udpSocket) writeTo(b []byte, to netip.AddrPort) error {
	_, err := u.conn.WriteToUDPAddrPort(b, to)
	return err
}

func (u *udpSocket) close() error { return u.conn.Close() }
