package datatrack

import (
	"fmt"
	"testing"
)

var benchSizes = []int{1 << 10, 100 << 10}

func BenchmarkPacketize(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			p := newTestPacketizer(b, 1, 0)
			payload := make([]byte, size)
			var f PacketizedFrame
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				f.Reset()
				if err := p.Packetize(&f, payload, Extensions{HasUserTimestamp: true, UserTimestamp: 1}, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDepacketize(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			p := newTestPacketizer(b, 1, 0)
			var f PacketizedFrame
			if err := p.Packetize(&f, make([]byte, size), Extensions{}, t0); err != nil {
				b.Fatal(err)
			}
			pkts := make([]Packet, f.Len())
			for i := range pkts {
				if err := pkts[i].Unmarshal(f.Packet(i)); err != nil {
					b.Fatal(err)
				}
			}
			d := NewDepacketizer(1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				var r DepacketizeResult
				for i := range pkts {
					r = d.Push(&pkts[i])
				}
				if !r.HasFrame {
					b.Fatal("no frame")
				}
			}
		})
	}
}

// BenchmarkReceivePath measures the whole subscriber hot path: decode, route, depacketize,
// fan out to one stream buffer (drained each iteration).
func BenchmarkReceivePath(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			m := setupRemote(b, RemoteConfig{}, dti(1, "DTR_a", "a", 0))
			s, _, _ := m.Subscribe("DTR_a", SubscribeOptions{}, t0)
			m.HandleSubscriberHandles(handles(map[uint32]string{9: "DTR_a"}), t0)
			p := newTestPacketizer(b, 9, 0)
			var f PacketizedFrame
			if err := p.Packetize(&f, make([]byte, size), Extensions{}, t0); err != nil {
				b.Fatal(err)
			}
			raw := make([][]byte, f.Len())
			for i := range raw {
				raw[i] = f.Packet(i)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range raw {
					m.HandlePacket(r)
				}
				if _, ok := s.TryRecv(); !ok {
					b.Fatal("no frame")
				}
			}
		})
	}
}

// BenchmarkTryPush measures the publisher path: packetize into a recycled buffer, queue, pop.
func BenchmarkTryPush(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			m := newLocal(LocalConfig{})
			h, _, _ := m.Publish(PublishOptions{Name: "a"}, t0)
			tr := m.HandlePublishResponse(publishResp(uint32(h), "DTR_a", "a"), t0)[0].(PublishCompleted).Track
			payload := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := tr.TryPush(NewFrame(payload)); err != nil {
					b.Fatal(err)
				}
				f, _ := tr.Queue().Pop()
				tr.Queue().Done(f)
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	p := Packet{Header: Header{Marker: MarkerSingle, Handle: 1, Extensions: Extensions{HasE2EE: true, HasUserTimestamp: true}}, Payload: make([]byte, 1024)}
	buf := make([]byte, p.Size())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.MarshalTo(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	p := Packet{Header: Header{Marker: MarkerSingle, Handle: 1, Extensions: Extensions{HasE2EE: true, HasUserTimestamp: true}}, Payload: make([]byte, 1024)}
	buf, _ := p.AppendTo(nil)
	var q Packet
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
	}
}
