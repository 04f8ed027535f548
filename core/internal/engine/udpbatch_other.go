//go:build !linux

package engine

import (
	"net"

	"github.com/pion/transport/v5"
)

// batchUDP returns c: batched sends use Linux's UDP segmentation offload
// (udpbatch_linux.go); elsewhere every datagram is its own send.
func batchUDP(c *net.UDPConn) transport.UDPConn {
	return c
}
