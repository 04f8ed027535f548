//go:build linux

package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// coalesceReceives asks the kernel to coalesce c's receives (UDP_GRO,
// Linux 5.0 and later) and reports whether it agreed.
func coalesceReceives(c *net.UDPConn) bool {
	return onSocket(c, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	})
}

// groReceiver receives with the control message that gives the size of the
// coalesced datagrams. It is called with the Conn's receive lock held, so
// one control-message buffer serves every call. The buffer has room for
// more than that one message, so that another option set on the socket
// cannot truncate it away.
func groReceiver(c *net.UDPConn) receiver {
	oob := make([]byte, 8*unix.CmsgSpace(4))
	return func(buf []byte) (int, int, netip.AddrPort, error) {
		n, oobn, _, src, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return 0, 0, src, err
		}
		return n, groSegment(oob[:oobn]), src, nil
	}
}

// groSegment is the datagram size in a receive's control messages, 0 when
// there is none (a single datagram).
func groSegment(oob []byte) int {
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 4 {
			return int(binary.NativeEndian.Uint32(data))
		}
		oob = rest
	}
	return 0
}
