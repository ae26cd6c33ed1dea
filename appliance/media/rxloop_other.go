//go:build !linux

package media

import "net/netip"

// listenRTP binds an RTP socket. Without Linux's epoll every leg is read
// by a goroutine of its own.
func (m *Manager) listenRTP(addr netip.AddrPort) (rtpSocket, error) { return listenUDP(addr) }
