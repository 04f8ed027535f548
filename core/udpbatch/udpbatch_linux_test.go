//go:build linux

package udpbatch

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// The kernel cuts a batch into the datagrams that were written: sizes,
// contents and order as sent, with one system call per batch.
func TestBatchUDPSegmentsInKernel(t *testing.T) {
	sender, rx := listenLoopback(t), listenLoopback(t)
	if !Supported(sender) {
		// A kernel without UDP_SEGMENT (before 4.18): the socket is used as is.
		if c := Wrap(sender); c != sender {
			t.Fatalf("Wrap without segmentation offload returned %T", c)
		}
		t.Log("this kernel has no UDP segmentation offload: checked the fallback only")
		return
	}
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	b := queueing(newBatchConn(sender, gsoSender(sender)))
	var want [][]byte
	write := func(seq, size int) {
		p := datagram('K', seq, size)
		if _, err := b.WriteToAddrPort(p, dst); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	for i := range 40 { // one batch of 40 × 1 200 bytes ended by 500 bytes
		write(i, 1200)
	}
	write(40, 500)
	for i := range 10 { // one batch of 10 × 1 000 bytes
		write(41+i, 1000)
	}
	wait := receiving(rx, want)
	go b.flushLoop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if s, d := b.stats.sends.Load(), b.stats.datagrams.Load(); s != 2 || d != 51 {
		t.Fatalf("%d sends of %d datagrams, want 2 of 51", s, d)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unbatched {
		t.Fatal("the kernel refused a batch on loopback")
	}
}

// Wrap wraps a socket of a kernel with segmentation offload.
func TestBatchUDPWrapsWhenAvailable(t *testing.T) {
	c := listenLoopback(t)
	got := Wrap(c)
	if _, ok := got.(*Conn); ok != Supported(c) {
		t.Fatalf("Wrap returned %T with offload available = %v", got, Supported(c))
	}
	if b, ok := got.(*Conn); ok {
		_ = b.Close()
	}
}

// BenchmarkUDPSend measures sending 1 200-byte datagrams (the size of an
// SCTP packet) over loopback, each written on its own as pion writes them:
// "direct" is one system call per datagram, "batched" goes through Wrap.
// A goroutine reads them so that the receiving socket keeps draining. The
// time per operation is the sender's, flusher included (Close drops at most
// the last queue, 128 KiB, which is negligible over b.N datagrams).
func BenchmarkUDPSend(b *testing.B) {
	for _, mode := range []string{"direct", "batched"} {
		b.Run(mode, func(b *testing.B) {
			sender, rx := listenLoopback(b), listenLoopback(b)
			_ = sender.SetWriteBuffer(socketBuffer) // as the client engine does
			dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
			var conn interface {
				WriteToAddrPort([]byte, netip.AddrPort) (int, error)
				Close() error
			} = directConn{sender}
			if mode == "batched" {
				bc, ok := Wrap(sender).(*Conn)
				if !ok {
					b.Fatal("this kernel has no UDP segmentation offload")
				}
				conn = bc
			}
			go func() {
				buf := make([]byte, 2048)
				for {
					if _, _, err := rx.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
				}
			}()
			p := make([]byte, 1200)
			b.SetBytes(int64(len(p)))
			cpu0 := processCPU(b)
			b.ResetTimer()
			for range b.N {
				if _, err := conn.WriteToAddrPort(p, dst); err != nil {
					b.Fatal(err)
				}
			}
			_ = conn.Close()
			b.StopTimer()
			// CPU of the whole process (writer, flusher and reader, and the
			// kernel's work for them), per datagram: batching may use the
			// second core, so time per operation alone could flatter it.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			_ = rx.Close()
		})
	}
}

// directConn sends each datagram with its own system call.
type directConn struct{ *net.UDPConn }

func (d directConn) WriteToAddrPort(p []byte, dst netip.AddrPort) (int, error) {
	return d.WriteToUDPAddrPort(p, dst)
}

// processCPU is the user and system CPU time of the process so far, in ns.
func processCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
