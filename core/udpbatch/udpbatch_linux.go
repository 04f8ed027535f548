//go:build linux

package udpbatch

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"unsafe"

	"github.com/pion/transport/v5"
	"golang.org/x/sys/unix"
)

// Wrap returns c with batched sends (Conn) when the kernel offers
// UDP generic segmentation offload (Linux 4.18 and later), and c itself
// otherwise. Where the kernel also coalesces receives (Linux 5.0 and
// later), the Conn asks for that too (receive.go).
func Wrap(c *net.UDPConn) transport.UDPConn {
	if !Supported(c) {
		return c
	}
	b := newBatchConn(c, gsoSender(c))
	if coalesceReceives(c) {
		b.rx.receive = groReceiver(c)
	}
	go b.flushLoop()
	return b
}

// Supported asks the kernel whether c accepts the UDP_SEGMENT option.
func Supported(c *net.UDPConn) bool {
	return onSocket(c, func(fd int) error {
		_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		return err
	})
}

// onSocket runs f on c's file descriptor and reports whether it succeeded.
func onSocket(c *net.UDPConn, f func(fd int) error) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var fErr error
	if err := rc.Control(func(fd uintptr) { fErr = f(int(fd)) }); err != nil {
		return false
	}
	return fErr == nil
}

// gsoSender sends a batch as one sendmsg with a UDP_SEGMENT control message
// giving the segment size: the kernel (or the network card) cuts the buffer
// into datagrams of that size. It is called by the flusher only, so one
// control-message buffer serves every call.
func gsoSender(c *net.UDPConn) batchSender {
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	size := oob[unix.CmsgLen(0):]
	return func(buf []byte, seg int, dst netip.AddrPort) error {
		binary.NativeEndian.PutUint16(size, uint16(seg))
		_, _, err := c.WriteMsgUDPAddrPort(buf, oob, dst)
		if errors.Is(err, unix.EIO) {
			// The device cannot checksum segments (no offload, some tunnels).
			return errBatchUnsupported
		}
		return err
	}
}
