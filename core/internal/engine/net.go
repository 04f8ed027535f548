package engine

import (
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// UDPSocketBufferSize is the kernel receive/send buffer requested for every
// ICE UDP socket. Linux's default (about 208 KiB) overflows when a multi-packet
// data-track frame (a 100 KB frame is 7 packets of ~16 KB, each split into
// ~12 UDP datagrams by SCTP) arrives in one burst next to other traffic: the
// kernel drops datagrams (RcvbufErrors), SCTP retransmits on the reliable
// channels but the unreliable `_data_track` channel loses the frame. 4 MiB
// matches devsfu and what livekit-server's UDP mux asks for. The kernel may cap
// it at net.core.rmem_max; failure to raise it is not an error.
const UDPSocketBufferSize = 4 << 20

// bufferedNet is the operating system's network with larger UDP socket
// buffers; everything else is the standard pion implementation.
type bufferedNet struct {
	transport.Net
	size int
}

// newBufferedNet returns a transport.Net whose UDP sockets ask the kernel for
// size-byte buffers.
func newBufferedNet(size int) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &bufferedNet{Net: n, size: size}, nil
}

// ListenUDP opens the socket like the standard network, then raises its buffers.
func (n *bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(n.size)  // best effort: capped by net.core.rmem_max
	_ = c.SetWriteBuffer(n.size) // best effort: capped by net.core.wmem_max
	return c, nil
}
