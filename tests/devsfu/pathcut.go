package devsfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// pathCut sits between the server's UDP socket and pion's UDP mux and drops every datagram
// to or from the addresses of cut participants (Server.CutPath): a network path that went
// dead, as a client sees it when its Wi-Fi drops. Unlike KillICE, which ignores a
// participant's data-channel messages after SCTP has acknowledged them, a cut path
// acknowledges nothing: what the client sent stays unacknowledged in its SCTP association,
// which is what decides whether a reconnect replays or discards it.
type pathCut struct {
	net.PacketConn
	ap addrPortConn

	any   atomic.Bool // some address is cut: the fast path checks only this
	mu    sync.Mutex
	cut   map[netip.AddrPort]string // address -> the identity it was cut for
	drops atomic.Uint64
}

// addrPortConn is the allocation-free form of a UDP socket's reads and writes (pion/ice's
// AddrPortReaderWriter, which the UDP mux prefers when its connection has it).
type addrPortConn interface {
	ReadFromAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// udpConnAddrPort adapts *net.UDPConn, whose methods carry "UDP" in their names.
type udpConnAddrPort struct{ c *net.UDPConn }

func (u udpConnAddrPort) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return u.c.ReadFromUDPAddrPort(b)
}

func (u udpConnAddrPort) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return u.c.WriteToUDPAddrPort(b, addr)
}

func newPathCut(c net.PacketConn) *pathCut {
	p := &pathCut{PacketConn: c, cut: map[netip.AddrPort]string{}}
	switch c := c.(type) {
	case *net.UDPConn:
		p.ap = udpConnAddrPort{c}
	case addrPortConn:
		p.ap = c
	}
	return p
}

// set cuts (on) the given addresses for identity, or restores every address cut for it.
func (p *pathCut) set(identity string, addrs []netip.AddrPort, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		for _, a := range addrs {
			p.cut[normalize(a)] = identity
		}
	} else {
		for a, id := range p.cut {
			if id == identity {
				delete(p.cut, a)
			}
		}
	}
	p.any.Store(len(p.cut) > 0)
}

// clear restores every cut path.
func (p *pathCut) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.cut)
	p.any.Store(false)
}

// dropped reports whether a datagram to or from a is dropped, and counts it.
func (p *pathCut) dropped(a netip.AddrPort) bool {
	if !p.any.Load() {
		return false
	}
	p.mu.Lock()
	_, cut := p.cut[normalize(a)]
	p.mu.Unlock()
	if cut {
		p.drops.Add(1)
	}
	return cut
}

func normalize(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort(), true
	}
	return netip.AddrPort{}, false
}

// ReadFrom returns the next datagram from an address that is not cut.
func (p *pathCut) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := p.PacketConn.ReadFrom(b)
		if err == nil {
			if ap, ok := addrPortOf(a); ok && p.dropped(ap) {
				continue
			}
		}
		return n, a, err
	}
}

// WriteTo sends b unless addr is cut; a dropped datagram counts as sent, as one lost on the
// way would.
func (p *pathCut) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ap, ok := addrPortOf(addr); ok && p.dropped(ap) {
		return len(b), nil
	}
	return p.PacketConn.WriteTo(b, addr)
}

// ReadFromAddrPort and WriteToAddrPort are ReadFrom and WriteTo without allocations, offered
// only when the socket has them (the UDP mux then uses them instead).
type pathCutAddrPort struct{ *pathCut }

func (p pathCutAddrPort) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, a, err := p.ap.ReadFromAddrPort(b)
		if err == nil && p.dropped(a) {
			continue
		}
		return n, a, err
	}
}

func (p pathCutAddrPort) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if p.dropped(addr) {
		return len(b), nil
	}
	return p.ap.WriteToAddrPort(b, addr)
}

// conn is what the UDP mux reads and writes: p itself, with the allocation-free methods
// when the socket has them.
func (p *pathCut) conn() net.PacketConn {
	if p.ap != nil {
		return pathCutAddrPort{p}
	}
	return p
}
