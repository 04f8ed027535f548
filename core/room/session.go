package room

import (
	"context"
	"runtime"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
)

// session is one signalling connection and one engine (PeerConnection) with
// the engine's generation: engine notifications carry the generation they
// were produced under, and those of a replaced engine are ignored. A resume
// replaces sig and keeps eng; a full reconnect replaces both (new gen). The
// loop owns it; Room.eng publishes sess.eng to other goroutines.
type session struct {
	sig *signal.Client
	eng *engine.Engine
	gen uint64
}

// endSignal ends the signalling connection: with a client-initiated leave
// (bounded to a second) when sendLeave, else by closing it at once.
func (s *session) endSignal(sendLeave bool) {
	if !sendLeave {
		s.sig.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.sig.Leave(ctx, lkpb.DisconnectReason_CLIENT_INITIATED)
}

// joinKind is which response applyJoin applies.
type joinKind int

const (
	joinFirst  joinKind = iota // JoinResponse of Connect's join
	joinResume                 // ReconnectResponse of a resume (same session)
	joinFull                   // JoinResponse of a full reconnect (new session)
)

// iceConfig is the part of the engine that applyJoin configures (an
// interface so that applyJoin is unit-tested without a PeerConnection).
type iceConfig interface {
	SetICEServers(servers []*lkpb.ICEServer, forceRelay bool) error
	SetForceRelay(forceRelay bool) error
}

var _ iceConfig = (*engine.Engine)(nil)

// applyJoin applies the server's answer to a join, resume or full reconnect
// to the room: room info, local and remote participants, server version,
// E2EE and data-track state (first join), the keepalive and resume settings,
// and the ICE servers / force_relay of the next ICE gathering. A first join
// produces no events (Connect's Snapshot describes it); a full reconnect
// pushes the changes (RoomMetadataChanged or RoomInfoChanged, the local participant's changes,
// participants who joined or left meanwhile, their data tracks); a resume
// changes no participant state.
// Loop only (or Connect before the loop starts).
func (r *Room) applyJoin(kind joinKind, res *lkpb.SignalResponse, ice iceConfig) {
	if kind == joinResume {
		rr := res.GetReconnect()
		r.rc.lastSeq = rr.GetLastMessageSeq()
		// An empty list keeps the servers we have (devsfu without TURN
		// sends none; the real server repeats its list).
		r.applyICE(ice, rr.GetIceServers(), rr.GetClientConfiguration(), true)
		return
	}
	join := res.GetJoin()
	r.setRoomInfo(join.GetRoom(), join.GetServerInfo(), kind == joinFull)
	oldLocal := r.local.load()
	r.local.store(join.GetParticipant())
	if kind == joinFirst {
		r.parts.reset()
		r.parts.seed(join.GetOtherParticipants())
		r.initE2EE()
		r.initDataTracks(join.GetOtherParticipants())
	} else {
		r.rc.oldLocalSID = oldLocal.GetSid()
		// The speakers were reported to the old session; the new one's server reports them anew.
		r.events.push(r.parts.forgetSpeakers()...)
		r.events.push(diffInfo(r.local, oldLocal, join.GetParticipant(), false)...)
		// The join lists everyone in the room: who stayed keeps their object
		// (updated in place), who joined meanwhile is announced, then the
		// remote data tracks follow the list, and only then is who left
		// reported, after the DataTrackUnpublished of each of their tracks.
		evs, _ := r.parts.apply(join.GetOtherParticipants())
		r.sessionsEnded(evs, nil) // who stayed with a new session: its old one's streams
		r.events.push(evs...)
		left := r.parts.retain(join.GetOtherParticipants())
		r.dt.rejoined(join.GetOtherParticipants())
		r.sessionsEnded(left, nil)
		r.events.push(left...)
	}
	r.rc.pingInterval = time.Duration(join.GetPingInterval()) * time.Second
	r.rc.pingTimeout = time.Duration(join.GetPingTimeout()) * time.Second
	r.rc.m.resumeDisabled = join.GetClientConfiguration().GetResumeConnection() == lkpb.ClientConfigSetting_DISABLED
	r.applyICE(ice, join.GetIceServers(), join.GetClientConfiguration(), false)
}

// sessionsEnded ends what the sessions that evs report ended (ParticipantDisconnected, a
// ParticipantInfoChanged with a new sid) and the unannounced sessions in gone left open: their
// RPCs and streams (dataAPI) and their encryption states. Loop.
func (r *Room) sessionsEnded(evs []Event, gone []endedSession) {
	r.dapi.sessionsEnded(evs)
	r.dapi.unannouncedSessionsEnded(gone)
	r.enc.sessionsEnded(evs, gone)
}

// applyICE hands the server's ICE servers and force_relay to the engine for
// its next gathering; with keepIfEmpty an empty list keeps the current
// servers (a resume).
func (r *Room) applyICE(ice iceConfig, servers []*lkpb.ICEServer, cc *lkpb.ClientConfiguration, keepIfEmpty bool) {
	forceRelay := cc.GetForceRelay() == lkpb.ClientConfigSetting_ENABLED
	var err error
	if keepIfEmpty && len(servers) == 0 {
		err = ice.SetForceRelay(forceRelay)
	} else {
		err = ice.SetICEServers(servers, forceRelay)
	}
	if err != nil {
		r.log.Warn("room: applying ICE servers failed", "err", err)
	}
}

// setRoomInfo stores the server's Room message, and the session's
// ServerInfo when srv is not nil (a join); with announce a change of
// what RoomInfo holds is pushed: RoomMetadataChanged when the metadata
// changed, else RoomInfoChanged (one event per message). Loop only.
func (r *Room) setRoomInfo(info *lkpb.Room, srv *lkpb.ServerInfo, announce bool) {
	r.infoMu.Lock()
	old, oldSrv := r.roomInfo, r.serverInfo
	r.roomInfo = info
	if srv != nil {
		r.serverInfo = srv
	}
	newSrv := r.serverInfo
	r.infoMu.Unlock()
	if !announce {
		return
	}
	before, after := roomInfoFrom(old, oldSrv), roomInfoFrom(info, newSrv)
	switch {
	case before.Metadata != after.Metadata:
		r.events.push(RoomMetadataChanged{OldMetadata: before.Metadata, NewMetadata: after.Metadata, Info: after})
	case !before.equal(after):
		r.events.push(RoomInfoChanged{Info: after})
	}
}

// startKeepalive starts the keepalive of the session's WebSocket with the
// intervals of the last JoinResponse.
func (r *Room) startKeepalive() {
	r.sess.sig.StartKeepalive(r.rc.pingInterval, r.rc.pingTimeout)
}

// pcTimeout is Options.PeerConnectionTimeout or its default: how long a
// join attempt or a reconnect attempt waits for the transport.
func (r *Room) pcTimeout() time.Duration {
	if t := r.opts.PeerConnectionTimeout; t > 0 {
		return t
	}
	return DefaultPeerConnectionTimeout
}

type engineEvent struct {
	gen         uint64 // engine generation: events of replaced engines are ignored
	state       webrtc.PeerConnectionState
	candidate   *webrtc.ICECandidateInit
	closedLabel string // a data channel closed by the peer
	noRelay     bool   // a relay-only gathering ended without a relay candidate
}

func (r *Room) newEngine() (*engine.Engine, error) {
	var ice []webrtc.ICEServer
	for _, s := range r.opts.ICEServers {
		ice = append(ice, engine.ICEServer(s.URLs, s.Username, s.Credential))
	}
	r.sess.gen++
	gen := r.sess.gen
	stop := r.loopStop // this loop run's: pion callbacks never block past its end
	post := func(ev engineEvent) {
		select {
		case r.engEvents <- ev:
		case <-stop:
		}
	}
	eng, err := engine.New(engine.Config{
		Logger:                r.log,
		ICEServers:            ice,
		SCTPReceiveBufferSize: r.opts.SCTPReceiveBufferSize,
		DisableUDPBatching:    r.opts.DisableUDPBatching,
		SettingEngineHook:     r.opts.settingEngineHook,
		OnLocalCandidate: func(c webrtc.ICECandidateInit) {
			post(engineEvent{gen: gen, candidate: &c})
		},
		OnConnectionState: func(s webrtc.PeerConnectionState) {
			post(engineEvent{gen: gen, state: s})
		},
		OnDataChannelClosed: func(label string) {
			post(engineEvent{gen: gen, closedLabel: label})
		},
		RelayOnly: r.opts.ICETransportPolicy == ICETransportPolicyRelay,
		// The data-track writer's backstop (its scheduler's policy).
		DataTrackHighWater: datatrack.DefaultChannelHighWater,
		OnRelayUnavailable: func() {
			post(engineEvent{gen: gen, noRelay: true})
		},
		OnPacket:          r.handlePacket,
		OnDataTrackPacket: func(b []byte) { r.dt.handlePacket(b) },
	})
	if err != nil {
		return nil, err
	}
	r.sess.eng = eng
	r.eng.Store(eng)
	return eng, nil
}

// newJoinRequest builds the JoinRequest of a join (offer set: offer-with-join)
// or a resume (offer nil; the caller sets reconnect fields). Resumes repeat
// the join's client_info and connection_settings (recorded in 1d-resume-js).
func (r *Room) newJoinRequest(offer *lkpb.SessionDescription) *lkpb.JoinRequest {
	return &lkpb.JoinRequest{
		ClientInfo: &lkpb.ClientInfo{
			Sdk:            lkpb.ClientInfo_GO,
			Version:        Version,
			Protocol:       signalProtocol,
			Os:             runtime.GOOS,
			ClientProtocol: r.advertisedClientProtocol(),
			Capabilities:   r.advertisedCaps(),
		},
		// Data-only: no media subscriptions, so the server never asks for
		// media sections; data delivery does not depend on it.
		ConnectionSettings: &lkpb.ConnectionSettings{AutoSubscribe: false},
		PublisherOffer:     offer,
	}
}
