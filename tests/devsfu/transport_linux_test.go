//go:build linux

package devsfu

import (
	"net"
	"testing"

	"github.com/lkcore/lkcore/core/udpbatch"
)

// The SFU's UDP socket batches its sends where the kernel can, unless
// Options.DisableUDPBatching says otherwise.
func TestUDPSocketBatchesUnlessDisabled(t *testing.T) {
	for _, disable := range []bool{false, true} {
		s := startServer(t, Options{DisableUDPBatching: disable})
		_, batched := s.udp.(*udpbatch.Conn)
		uc, plain := s.udp.(*net.UDPConn)
		switch {
		case disable && !plain:
			t.Fatalf("batching disabled, but the socket is %T", s.udp)
		case !disable && plain && udpbatch.Supported(uc):
			t.Fatal("the kernel can batch, but the socket is not batched")
		case !disable && !batched && !plain:
			t.Fatalf("unexpected socket type %T", s.udp)
		}
	}
}
