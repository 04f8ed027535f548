package udpbatch

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Coalesced receives. With Linux's UDP generic receive offload (UDP_GRO,
// receive_linux.go) the kernel may hand a socket several datagrams of one
// sender in a single receive: consecutive datagrams of the same size (the
// last one may be shorter), back to back in one buffer, with the size in a
// control message. That is what a batch sent with segmentation offload
// looks like on arrival (over loopback it is delivered whole), and what the
// kernel makes of a burst from a network card that coalesces. One system
// call then receives up to 64 datagrams instead of one, and on loopback the
// sender's kernel no longer cuts its batch into datagrams for the receiver.
//
// A Conn with coalesced receives reads into one buffer of maxCoalesced bytes
// and hands the datagrams out one per read, in order, each with its
// sender's address: every read method of the socket returns exactly the
// datagrams that were sent, as without offload.

// maxCoalesced is the largest coalesced receive: a UDP payload cannot be
// larger (the kernel coalesces at most 64 KiB).
const maxCoalesced = 1<<16 - 1

// receiver reads one coalesced receive into buf and reports its length, the
// size of its datagrams (seg; 0 or n for a single datagram) and its sender.
type receiver func(buf []byte) (n, seg int, src netip.AddrPort, err error)

// coalesced is what is left of one coalesced receive, handed out a datagram
// at a time.
type coalesced struct {
	rest []byte // datagrams not handed out yet, back to back
	seg  int    // size of each but the last
	src  netip.AddrPort
}

// load makes buf, received from src with datagrams of seg bytes, the next
// to hand out, and returns how many datagrams it holds. A seg outside
// (0, len(buf)) means one datagram.
func (c *coalesced) load(buf []byte, seg int, src netip.AddrPort) int {
	if seg <= 0 || seg > len(buf) {
		seg = len(buf)
	}
	c.rest, c.seg, c.src = buf, seg, src
	if seg == 0 { // one empty datagram
		return 1
	}
	return (len(buf) + seg - 1) / seg
}

// empty reports whether every datagram has been handed out. An empty
// datagram (a receive of 0 bytes) is handed out as one before that: load
// of an empty buffer leaves c not empty until next.
func (c *coalesced) empty() bool {
	return c.rest == nil
}

// next copies the next datagram into p (truncated to len(p), as a socket
// truncates a datagram larger than the read buffer) and returns its length
// in p and its sender.
func (c *coalesced) next(p []byte) (int, netip.AddrPort) {
	k := min(c.seg, len(c.rest))
	n := copy(p, c.rest[:k])
	if c.rest = c.rest[k:]; len(c.rest) == 0 {
		c.rest = nil
	}
	return n, c.src
}

// receiveState is a Conn's coalesced-receive side: nil receive means reads
// go to the socket as they are.
type receiveState struct {
	receive receiver
	mu      sync.Mutex // one reader at a time: reads hand out a shared buffer
	buf     []byte     // allocated at the first read
	pending coalesced
	// receives counts system calls, received the datagrams they brought.
	receives, received atomic.Uint64
}

// readDatagram returns the next datagram: one left of the last coalesced
// receive, or the first of a new one.
func (b *Conn) readDatagram(p []byte) (int, netip.AddrPort, error) {
	r := &b.rx
	if r.receive == nil {
		return b.UDPConn.ReadFromUDPAddrPort(p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending.empty() {
		if r.buf == nil {
			r.buf = make([]byte, maxCoalesced)
		}
		n, seg, src, err := r.receive(r.buf)
		if err != nil {
			return 0, src, err
		}
		r.receives.Add(1)
		r.received.Add(uint64(r.pending.load(r.buf[:n], seg, src)))
	}
	n, src := r.pending.next(p)
	return n, src, nil
}

// ReadFromAddrPort reads the next datagram (pion's ICE reads through it
// when the connection has WriteToAddrPort).
func (b *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.readDatagram(p)
}

// ReadFromUDPAddrPort reads the next datagram.
func (b *Conn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.readDatagram(p)
}

// ReadFrom reads the next datagram; the address is a *net.UDPAddr.
func (b *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, src, err := b.readDatagram(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// ReadFromUDP reads the next datagram.
func (b *Conn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, src, err := b.readDatagram(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// Read reads the next datagram without its sender.
func (b *Conn) Read(p []byte) (int, error) {
	n, _, err := b.readDatagram(p)
	return n, err
}

// ReadMsgUDPAddrPort reads the next datagram. With coalesced receives no
// control message is returned (oobn 0, flags 0): they describe a whole
// receive, not one datagram.
func (b *Conn) ReadMsgUDPAddrPort(p, oob []byte) (n, oobn, flags int, src netip.AddrPort, err error) {
	if b.rx.receive == nil {
		return b.UDPConn.ReadMsgUDPAddrPort(p, oob)
	}
	n, src, err = b.readDatagram(p)
	return n, 0, 0, src, err
}

// ReadMsgUDP reads the next datagram, like ReadMsgUDPAddrPort.
func (b *Conn) ReadMsgUDP(p, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	var src netip.AddrPort
	n, oobn, flags, src, err = b.ReadMsgUDPAddrPort(p, oob)
	if err == nil {
		addr = net.UDPAddrFromAddrPort(src)
	}
	return n, oobn, flags, addr, err
}
