//go:build linux

package engine

import (
	"net"
	"testing"

	"github.com/lkcore/lkcore/core/udpbatch"
)

// The engine's network batches the sends and receives of its UDP sockets
// unless the Config turns it off (DisableUDPBatching reaches newBufferedNet
// as false).
func TestBufferedNetBatchesWhenAsked(t *testing.T) {
	for _, batch := range []bool{true, false} {
		n, err := newBufferedNet(UDPSocketBufferSize, batch)
		if err != nil {
			t.Fatal(err)
		}
		c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_, batched := c.(*udpbatch.Conn)
		uc, plain := c.(*net.UDPConn)
		switch {
		case batch && plain && udpbatch.Supported(uc):
			t.Fatal("batching asked for and available, but the socket is not batched")
		case !batch && batched:
			t.Fatal("batching turned off, but the socket is batched")
		case batch && !batched && !plain:
			t.Fatalf("unexpected socket type %T", c)
		}
		_ = c.Close()
	}
}
