//go:build !linux

package udpbatch

import (
	"net"

	"github.com/pion/transport/v5"
)

// Wrap returns c: batched sends use Linux's UDP segmentation offload
// (udpbatch_linux.go); elsewhere every datagram is its own send.
func Wrap(c *net.UDPConn) transport.UDPConn {
	return c
}

// Supported reports false: batched sends need Linux's UDP_SEGMENT.
func Supported(*net.UDPConn) bool {
	return false
}
