// Package dstest provides in-memory transports for testing code built on
// core/datastream and core/rpc without a room: a Recorder that captures
// outgoing packets, and a Network of endpoints that deliver packets to each
// other through the protobuf wire encoding, stamping sender identity and
// sequence like the SFU does.
package dstest

import (
	"context"
	"errors"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
)

// ErrClosed is returned by sends on a closed endpoint or network.
var ErrClosed = errors.New("dstest: endpoint closed")

// Recorder is a Transport that records every packet sent (as a deep copy)
// and delivers nothing.
type Recorder struct {
	// Identity is the local identity.
	Identity string
	// Version is returned by ServerVersion.
	Version string

	mu      sync.Mutex
	peers   map[string]datastream.PeerInfo
	packets []*lkpb.DataPacket
	// SendHook, when set, is called before recording; a non-nil error is
	// returned from SendPacket and nothing is recorded.
	SendHook func(ctx context.Context, pkt *lkpb.DataPacket) error
}

// SetPeer adds or replaces a known remote participant.
func (r *Recorder) SetPeer(p datastream.PeerInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.peers == nil {
		r.peers = map[string]datastream.PeerInfo{}
	}
	r.peers[p.Identity] = p
}

// RemovePeer forgets a remote participant.
func (r *Recorder) RemovePeer(identity string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.peers, identity)
}

// SendPacket implements datastream.Transport.
func (r *Recorder) SendPacket(ctx context.Context, pkt *lkpb.DataPacket) error {
	if r.SendHook != nil {
		if err := r.SendHook(ctx, pkt); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := proto.Clone(pkt).(*lkpb.DataPacket)
	r.mu.Lock()
	r.packets = append(r.packets, c)
	r.mu.Unlock()
	return nil
}

// Packets returns the packets sent so far.
func (r *Recorder) Packets() []*lkpb.DataPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.packets)
}

// Reset forgets the recorded packets.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.packets = nil
}

// RemotePeer implements datastream.Transport.
func (r *Recorder) RemotePeer(identity string) (datastream.PeerInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.peers[identity]
	return p, ok
}

// RemotePeers implements datastream.Transport.
func (r *Recorder) RemotePeers() []datastream.PeerInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]datastream.PeerInfo, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	return out
}

// LocalIdentity implements datastream.Transport.
func (r *Recorder) LocalIdentity() string { return r.Identity }

// ServerVersion implements rpc.ServerVersioner.
func (r *Recorder) ServerVersion() string { return r.Version }

// Network connects Endpoints in memory. Packets are marshalled, unmarshalled
// and stamped with participant_identity, participant_sid and a per-sender
// sequence, then queued (bounded: senders block when a receiver's queue is
// full) and delivered in order by one pump goroutine per endpoint.
type Network struct {
	mu  sync.Mutex
	eps map[string]*Endpoint
	wg  sync.WaitGroup
}

// NewNetwork returns an empty network.
func NewNetwork() *Network { return &Network{eps: map[string]*Endpoint{}} }

// QueueLen is the capacity of each endpoint's receive queue.
const QueueLen = 64

// Endpoint is one participant on a Network; it implements
// datastream.Transport and rpc.ServerVersioner.
type Endpoint struct {
	n    *Network
	info datastream.PeerInfo

	queue  chan *lkpb.DataPacket
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	view    map[string]datastream.PeerInfo
	seq     uint32
	handler func(*lkpb.DataPacket)
	onLeave func(identity string)
	version string
	hook    func(ctx context.Context, pkt *lkpb.DataPacket) error
}

// Join adds a participant with the given client protocol and capabilities.
// It does not become known to the others until Introduce or IntroduceAll.
func (n *Network) Join(identity string, clientProtocol int32, caps ...lkpb.ClientInfo_Capability) *Endpoint {
	ep := &Endpoint{
		n:      n,
		info:   datastream.PeerInfo{Identity: identity, ClientProtocol: clientProtocol, Capabilities: caps},
		queue:  make(chan *lkpb.DataPacket, QueueLen),
		closed: make(chan struct{}),
		view:   map[string]datastream.PeerInfo{},
	}
	n.mu.Lock()
	n.eps[identity] = ep
	n.mu.Unlock()
	return ep
}

// IntroduceAll makes every endpoint know every other one.
func (n *Network) IntroduceAll() {
	n.mu.Lock()
	eps := make([]*Endpoint, 0, len(n.eps))
	for _, e := range n.eps {
		eps = append(eps, e)
	}
	n.mu.Unlock()
	for _, a := range eps {
		for _, b := range eps {
			if a != b {
				a.Know(b)
			}
		}
	}
}

// Know makes e aware of other (as a ParticipantInfo would).
func (e *Endpoint) Know(other *Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.view[other.info.Identity] = other.info
}

// Start begins delivering received packets to handle (one goroutine, in
// order) and reports departures of known participants to onLeave (may be
// nil).
func (e *Endpoint) Start(handle func(*lkpb.DataPacket), onLeave func(identity string)) {
	e.mu.Lock()
	e.handler, e.onLeave = handle, onLeave
	e.mu.Unlock()
	e.n.wg.Add(1)
	go func() {
		defer e.n.wg.Done()
		for {
			select {
			case <-e.closed:
				return
			case pkt := <-e.queue:
				handle(pkt)
			}
		}
	}()
}

// SetServerVersion sets what ServerVersion reports.
func (e *Endpoint) SetServerVersion(v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.version = v
}

// SetSendHook installs a hook called before each send; a non-nil error fails
// the send (fault injection). The hook may block (honouring ctx).
func (e *Endpoint) SetSendHook(h func(ctx context.Context, pkt *lkpb.DataPacket) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = h
}

// Leave removes e from the network: its pump stops and every endpoint that
// knew it forgets it and is told through its onLeave callback (called on the
// goroutine of Leave).
func (e *Endpoint) Leave() {
	e.once.Do(func() {
		close(e.closed)
		n := e.n
		n.mu.Lock()
		delete(n.eps, e.info.Identity)
		others := make([]*Endpoint, 0, len(n.eps))
		for _, o := range n.eps {
			others = append(others, o)
		}
		n.mu.Unlock()
		for _, o := range others {
			o.mu.Lock()
			_, knew := o.view[e.info.Identity]
			delete(o.view, e.info.Identity)
			f := o.onLeave
			o.mu.Unlock()
			if knew && f != nil {
				f(e.info.Identity)
			}
		}
	})
}

// Close stops every endpoint's pump and waits for them.
func (n *Network) Close() {
	n.mu.Lock()
	eps := make([]*Endpoint, 0, len(n.eps))
	for _, e := range n.eps {
		eps = append(eps, e)
	}
	n.mu.Unlock()
	for _, e := range eps {
		e.once.Do(func() { close(e.closed) })
	}
	n.wg.Wait()
}

// SendPacket implements datastream.Transport.
func (e *Endpoint) SendPacket(ctx context.Context, pkt *lkpb.DataPacket) error {
	e.mu.Lock()
	hook := e.hook
	e.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, pkt); err != nil {
			return err
		}
	}
	select {
	case <-e.closed:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	wire, err := proto.Marshal(pkt)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.seq++
	seq := e.seq
	e.mu.Unlock()

	e.n.mu.Lock()
	var targets []*Endpoint
	for id, o := range e.n.eps {
		if o == e {
			continue
		}
		if len(pkt.DestinationIdentities) == 0 || slices.Contains(pkt.DestinationIdentities, id) {
			targets = append(targets, o)
		}
	}
	e.n.mu.Unlock()
	for _, o := range targets {
		c := new(lkpb.DataPacket)
		if err := proto.Unmarshal(wire, c); err != nil {
			return err
		}
		c.ParticipantIdentity = e.info.Identity
		c.ParticipantSid = "PA_" + e.info.Identity
		c.Sequence = seq
		select {
		case o.queue <- c:
		case <-o.closed: // the SFU drops packets for departed participants
		case <-e.closed:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// RemotePeer implements datastream.Transport.
func (e *Endpoint) RemotePeer(identity string) (datastream.PeerInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.view[identity]
	return p, ok
}

// RemotePeers implements datastream.Transport.
func (e *Endpoint) RemotePeers() []datastream.PeerInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]datastream.PeerInfo, 0, len(e.view))
	for _, p := range e.view {
		out = append(out, p)
	}
	return out
}

// LocalIdentity implements datastream.Transport.
func (e *Endpoint) LocalIdentity() string { return e.info.Identity }

// ServerVersion implements rpc.ServerVersioner.
func (e *Endpoint) ServerVersion() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.version
}
