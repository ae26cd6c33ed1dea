package media

// On Linux the RTP sockets are not package net's: they are plain
// non-blocking sockets that a few event loops, shared by every session of
// the process, wait on with epoll(7). A call's leg receives 50 packets a
// second, so with a goroutine per leg (package net's model) nearly every
// packet costs a park and a wake-up of that goroutine, a futile read that
// finds the socket empty, and the scheduler's work of moving goroutines
// between threads; measured under sipp load that was a third of the
// appliance's CPU. An event loop instead takes every ready socket from one
// epoll_wait, reads each once (level-triggered: a socket with more queued
// is reported again) and relays in place, so the per-packet cost is the
// read, the write and the relay itself. See
// docs/decisions/0010-rtp-event-loops.md.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// dscpEF is the IP TOS / traffic class byte for Expedited Forwarding
// (DSCP 46, RFC 3246, RFC 4594's class for telephony), set on every RTP
// socket so that switches that honour it queue voice first.
const dscpEF = 46 << 2

// listenRTP binds an RTP socket: one of the event loops' unless the
// manager was told to use a goroutine per leg.
func (m *Manager) listenRTP(addr netip.AddrPort) (rtpSocket, error) {
	if m.perLegRx {
		return listenUDP(addr)
	}
	return listenFD(addr)
}

// fdSocket is a non-blocking UDP socket of our own, read by an rxLoop.
type fdSocket struct {
	local netip.AddrPort
	v6    bool // AF_INET6 (IPv4 peers are written to as v4-mapped)

	mu     sync.RWMutex // held to use fd, write-held to close it
	fd     int
	closed bool
	loop   *rxLoop // the loop receiving from it, nil before receive
}

func listenFD(addr netip.AddrPort) (*fdSocket, error) {
	ip := addr.Addr().Unmap()
	family, v6 := unix.AF_INET, ip.Is6()
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("media: socket: %w", err)
	}
	var sa unix.Sockaddr
	if v6 {
		if ip.IsUnspecified() {
			// [::] takes IPv4 peers too, as package net does.
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, dscpEF)
		sa = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}
	} else {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, dscpEF)
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("media: bind %v: %w", addr, err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("media: getsockname: %w", err)
	}
	local := addr
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		local = netip.AddrPortFrom(netip.AddrFrom4(b.Addr), uint16(b.Port))
	case *unix.SockaddrInet6:
		local = netip.AddrPortFrom(netip.AddrFrom16(b.Addr).Unmap(), uint16(b.Port))
	}
	return &fdSocket{fd: fd, v6: v6, local: local}, nil
}

func (f *fdSocket) localAddr() netip.AddrPort { return f.local }

// writeTo sends one datagram without allocating: the address is built on
// the stack and sendto(2) called directly. The socket never blocks, so
// the call is a raw one: without the runtime's entersyscall/exitsyscall,
// which hand the processor off and wake the runtime's monitor thread, and
// measured under load cost more than the send itself.
func (f *fdSocket) writeTo(b []byte, to netip.AddrPort) error {
	if len(b) == 0 {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return net.ErrClosed
	}
	var (
		sa4 unix.RawSockaddrInet4
		sa6 unix.RawSockaddrInet6
		ptr unsafe.Pointer
		n   uintptr
	)
	ip := to.Addr()
	switch {
	case f.v6:
		sa6.Family = unix.AF_INET6
		putPort(&sa6.Port, to.Port())
		sa6.Addr = ip.As16() // an IPv4 address comes out v4-mapped
		ptr, n = unsafe.Pointer(&sa6), unix.SizeofSockaddrInet6
	case ip.Unmap().Is4():
		sa4.Family = unix.AF_INET
		putPort(&sa4.Port, to.Port())
		sa4.Addr = ip.Unmap().As4()
		ptr, n = unsafe.Pointer(&sa4), unix.SizeofSockaddrInet4
	default:
		return fmt.Errorf("media: send to %v from an IPv4 socket: %w", to, unix.EAFNOSUPPORT)
	}
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(f.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(ptr), n)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("media: sendto %v: %w", to, e)
	}
}

// recv reads one datagram into b without blocking or allocating. It
// returns unix.EAGAIN when none is queued.
func (f *fdSocket) recv(b []byte, rsa *unix.RawSockaddrAny) (int, netip.AddrPort, error) {
	l := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(f.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(unsafe.Pointer(rsa)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return int(r), netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port)), nil
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return int(r), netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), getPort(&sa.Port)), nil
	}
	return int(r), netip.AddrPort{}, nil // no address: dropped as not from the peer
}

// putPort and getPort store a port in a sockaddr's network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func (f *fdSocket) receive(s *Session, l Leg) error {
	loops, err := rxLoops()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return net.ErrClosed
	case f.loop != nil:
		return nil
	}
	// Both legs of a session go to the same loop: a call's two directions
	// are handled on one processor, and count once in its fill.
	lp := loops[s.loopIndex(loops)]
	if err := lp.add(f, s, l); err != nil {
		return err
	}
	f.loop = lp
	return nil
}

// stopReceiving returns once no loop handles f's datagrams and none will
// again; close calls it before the descriptor goes. It must be called
// without the session's lock (a loop may be waiting for it in handle).
func (f *fdSocket) stopReceiving() {
	f.mu.RLock()
	lp := f.loop
	f.mu.RUnlock()
	if lp != nil {
		lp.remove(f)
	}
}

func (f *fdSocket) close() error {
	f.stopReceiving()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	return unix.Close(f.fd)
}

// loopIndex picks the session's event loop, once: the first loop that
// has fewer than loopLegs sockets, else the one with the fewest. Filling
// one loop before the next keeps each loop's batches large (a loop's
// cost is per wake-up as much as per packet: under sipp load 100 calls
// on one loop took 0.69-0.70 ms of CPU per call-second, spread over two
// 0.83-0.87), and a second loop, on another processor, only takes over
// when the first has a few hundred calls.
func (s *Session) loopIndex(loops []*rxLoop) int {
	if s.loop >= 0 {
		return s.loop
	}
	best := 0
	for i, l := range loops {
		n := l.legs.Load()
		if n < loopLegs {
			best = i
			break
		}
		if n < loops[best].legs.Load() {
			best = i
		}
	}
	s.loop = best
	return best
}

// loopLegs is how many sockets (two per call) fill a loop.
const loopLegs = 512

// rxLoops starts the event loops on first use: one per processor the Go
// runtime uses, at most maxLoops; a loop without sockets costs nothing (its
// goroutine is parked in the runtime's poller). They live as long as the process, like
// the runtime's own network poller.
var rxLoops = sync.OnceValues(func() ([]*rxLoop, error) {
	n := min(runtime.GOMAXPROCS(0), maxLoops)
	loops := make([]*rxLoop, 0, n)
	for range n {
		l, err := newRxLoop()
		if err != nil {
			return nil, err // the loops made so far are left idle
		}
		loops = append(loops, l)
	}
	for _, l := range loops {
		go l.run()
	}
	return loops, nil
})

const maxLoops = 8

// rxLoop is one event loop: an epoll set of RTP sockets and the goroutine
// that waits on it and relays what arrives.
type rxLoop struct {
	epfd int
	file *os.File        // epfd as a file, kept so its finalizer never closes it
	rc   syscall.RawConn // file in the runtime's poller, to wait on when idle

	// Scratch of poll, which only the loop's goroutine runs.
	events []unix.EpollEvent
	buf    []byte
	pkt    rtp.Packet
	rsa    unix.RawSockaddrAny

	// busy is held while the loop handles a batch of packets; remove
	// takes it to know that no handling of the removed socket is under
	// way. It is never taken with a session's lock held (handle takes
	// session locks inside it).
	busy sync.Mutex

	mu    sync.Mutex // guards socks; never held across handle
	socks map[int32]rxEntry
	legs  atomic.Int32 // len(socks), for loopIndex
}

type rxEntry struct {
	sock *fdSocket
	s    *Session
	leg  Leg
}

func newRxLoop() (*rxLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("media: epoll set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "rtp-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("media: epoll set: %w", err)
	}
	return &rxLoop{
		epfd: epfd, file: f, rc: rc, socks: map[int32]rxEntry{},
		events: make([]unix.EpollEvent, 256),
		buf:    make([]byte, maxPacket+1),
	}, nil
}

func (l *rxLoop) add(f *fdSocket, s *Session, leg Leg) error {
	l.mu.Lock()
	l.socks[int32(f.fd)] = rxEntry{sock: f, s: s, leg: leg}
	l.legs.Store(int32(len(l.socks)))
	l.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(f.fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, f.fd, &ev); err != nil {
		l.mu.Lock()
		delete(l.socks, int32(f.fd))
		l.legs.Store(int32(len(l.socks)))
		l.mu.Unlock()
		return fmt.Errorf("media: epoll_ctl add: %w", err)
	}
	return nil
}

// remove takes f out of the loop; once it returns the loop will not touch
// f again, so f's descriptor may be closed (and its number reused).
func (l *rxLoop) remove(f *fdSocket) {
	l.busy.Lock()
	defer l.busy.Unlock()
	l.mu.Lock()
	e, ok := l.socks[int32(f.fd)]
	if ok && e.sock == f {
		delete(l.socks, int32(f.fd))
		l.legs.Store(int32(len(l.socks)))
	}
	l.mu.Unlock()
	if ok && e.sock == f {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, f.fd, nil)
	}
	f.mu.Lock()
	if f.loop == l {
		f.loop = nil
	}
	f.mu.Unlock()
}

func (l *rxLoop) run() {
	for {
		if l.poll() > 0 {
			continue // more may have come meanwhile (pacing here cost more: decision 0010)
		}
		// Idle: park in the runtime's network poller until one of the
		// set's sockets is ready (an epoll set is itself pollable).
		if err := l.rc.Read(func(uintptr) bool { return l.poll() > 0 }); err != nil {
			panic(fmt.Sprintf("media: event loop: %v", err)) // the set's descriptor is never closed
		}
	}
}

// poll handles every socket of the set that is ready now, without
// blocking, and returns how many were.
func (l *rxLoop) poll() int {
	// epoll_pwait (arm64 has no epoll_wait) with a zero timeout and no
	// signal mask.
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
	n := int(r)
	if e != 0 || n <= 0 {
		return 0 // EINTR; EBADF or EINVAL cannot happen on a set that is never closed
	}
	l.busy.Lock()
	defer l.busy.Unlock()
	for _, ev := range l.events[:n] {
		l.mu.Lock()
		e, ok := l.socks[ev.Fd]
		l.mu.Unlock()
		if !ok {
			continue // removed since epoll_wait returned
		}
		m, from, err := e.sock.recv(l.buf, &l.rsa)
		if err != nil {
			// EAGAIN: another event for the same socket in this batch
			// took its only datagram. Others (ECONNREFUSED from an
			// earlier ICMP error) concern no datagram.
			continue
		}
		e.s.handle(e.leg, l.buf, m, from, &l.pkt)
	}
	return n
}
