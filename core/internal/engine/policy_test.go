package engine

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
)

func TestPolicyNet(t *testing.T) {
	base, err := newBufferedNet(UDPSocketBufferSize, true)
	if err != nil {
		t.Fatal(err)
	}
	var relay atomic.Bool
	n := &policyNet{Net: base, relayOnly: &relay}
	ifs, err := n.Interfaces()
	if err != nil || len(ifs) == 0 {
		t.Fatalf("policy all: %d interfaces, %v", len(ifs), err)
	}
	c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()

	relay.Store(true)
	if ifs, err := n.Interfaces(); err != nil || len(ifs) != 0 {
		t.Fatalf("relay only: %d interfaces, %v", len(ifs), err)
	}
	if _, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); !errors.Is(err, errRelayOnly) {
		t.Fatalf("relay only: ListenUDP %v", err)
	}
	// TURN allocations use ListenPacket (UDP) and DialTCP: still available.
	pc, err := n.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relay only: ListenPacket %v", err)
	}
	_ = pc.Close()
}

// The case: force_relay arrives after the join offer was created
// (pion's ICE agent already exists with every candidate type). The first
// gathering, at HandleAnswer, must still be relay-only: without a TURN
// server nothing is gathered or trickled and OnRelayUnavailable fires. With
// force_relay off the same sequence gathers host candidates.
func TestEngineForceRelayAfterOffer(t *testing.T) {
	for _, force := range []bool{true, false} {
		var mu sync.Mutex
		var types []string
		noRelay := make(chan struct{}, 4)
		eng, err := New(Config{
			OnLocalCandidate: func(c webrtc.ICECandidateInit) {
				mu.Lock()
				types = append(types, c.Candidate)
				mu.Unlock()
			},
			OnRelayUnavailable: func() { noRelay <- struct{}{} },
		})
		if err != nil {
			t.Fatal(err)
		}
		peer := newEchoPeer(t)
		offer, err := eng.CreateOffer(false)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.SetICEServers(nil, force); err != nil {
			t.Fatal(err)
		}
		if eng.RelayOnly() != force {
			t.Fatalf("RelayOnly %v after SetICEServers(force=%v)", eng.RelayOnly(), force)
		}
		if err := peer.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
			t.Fatal(err)
		}
		answer, err := peer.pc.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := peer.pc.SetLocalDescription(answer); err != nil {
			t.Fatal(err)
		}
		if err := eng.HandleAnswer(&lkpb.SessionDescription{Type: "answer", Sdp: answer.SDP, Id: 1}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if force {
			select {
			case <-noRelay:
			case <-ctx.Done():
				t.Fatal("OnRelayUnavailable not called")
			}
			mu.Lock()
			if len(types) != 0 {
				t.Errorf("relay-only gathering trickled %q", types)
			}
			mu.Unlock()
		} else {
			for {
				mu.Lock()
				n := len(types)
				mu.Unlock()
				if n > 0 {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatal("no host candidate gathered")
				case <-time.After(5 * time.Millisecond):
				}
			}
			select {
			case <-noRelay:
				t.Error("OnRelayUnavailable under policy all")
			default:
			}
		}
		cancel()
		if _, ok := eng.Stats(); force && ok {
			t.Error("a pair was selected without any local candidate")
		}
		_ = eng.Close()
		_ = peer.pc.Close()
		if _, ok := eng.Stats(); ok {
			t.Error("Stats after Close")
		}
	}
}

// TestEngineStats: the selected pair (host to host over UDP on loopback), ICE's round trip
// from its connectivity checks, and, once a packet went out and came back, SCTP's round trip
// and byte counts that cover it.
func TestEngineStats(t *testing.T) {
	eng, peer, pkts := connectPair(t, Config{})
	defer func() {
		_ = eng.Close()
		_ = peer.pc.Close()
	}()
	st, ok := eng.Stats()
	if pair := st.Pair; !ok || pair.Local.Type != webrtc.ICECandidateTypeHost || pair.Remote.Type != webrtc.ICECandidateTypeHost ||
		pair.Local.Protocol != "udp" || pair.Local.Port == 0 || pair.Remote.Port == 0 || pair.Local.RelayProtocol != "" {
		t.Fatalf("selected pair %+v (%v)", pair, ok)
	}
	if st.RoundTripTime <= 0 || st.RoundTripTime > 10*time.Second {
		t.Fatalf("ICE round trip %v", st.RoundTripTime)
	}
	payload := make([]byte, 10_000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.SendPacket(ctx, &lkpb.DataPacket{Value: &lkpb.DataPacket_User{User: &lkpb.UserPacket{Payload: payload}}}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pkts:
	case <-ctx.Done():
		t.Fatal("no echo")
	}
	after, ok := eng.Stats()
	if !ok || after.BytesSent < st.BytesSent+uint64(len(payload)) || after.BytesReceived < st.BytesReceived+uint64(len(payload)) {
		t.Fatalf("bytes before %+v, after %+v (%v)", st, after, ok)
	}
	// Each side comes to count what the other does once nothing is in flight (the channels'
	// opening messages may still be).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		cur, _ := eng.Stats()
		ps := peer.pc.SCTP().Stats()
		if cur.BytesSent == ps.BytesReceived && cur.BytesReceived == ps.BytesSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine sent %d and received %d bytes, the peer received %d and sent %d", cur.BytesSent, cur.BytesReceived, ps.BytesReceived, ps.BytesSent)
		}
	}
	if after.SCTPRoundTripTime <= 0 || after.SCTPRoundTripTime > 10*time.Second {
		t.Fatalf("SCTP round trip %v", after.SCTPRoundTripTime)
	}
}
