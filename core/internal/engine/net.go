package engine

import (
	"net"

	"github.com/lkcore/lkcore/core/udpbatch"
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
// buffers and, unless turned off, batched UDP sends and receives
// (core/udpbatch);
// everything else is the standard pion implementation.
type bufferedNet struct {
	transport.Net
	size  int
	batch bool
}

// newBufferedNet returns a transport.Net whose UDP sockets ask the kernel for
// size-byte buffers and batch their sends when batch is set.
func newBufferedNet(size int, batch bool) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &bufferedNet{Net: n, size: size, batch: batch}, nil
}

// ListenUDP opens the socket like the standard network, raises its buffers
// and batches its sends and receives where the system can (udpbatch.Wrap).
func (n *bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(n.size)  // best effort: capped by net.core.rmem_max
	_ = c.SetWriteBuffer(n.size) // best effort: capped by net.core.wmem_max
	if uc, ok := c.(*net.UDPConn); ok && n.batch {
		return udpbatch.Wrap(uc), nil
	}
	return c, nil
}
