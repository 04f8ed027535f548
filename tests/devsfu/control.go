package devsfu

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Control endpoints (Options.EnableControl) expose the fault-injection
// methods over HTTP for tests in other languages that run devsfu as a
// process. They are served on the same loopback listener under /devsfu/;
// every call is a POST (GET for the read-only ones) with query parameters:
//
//	POST /devsfu/drop-signal?identity=I
//	POST /devsfu/kill-ice?identity=I&on=true|false
//	POST /devsfu/close-transport?identity=I
//	POST /devsfu/cut-path?identity=I&on=true|false   (UDP to and from I's current address
//	                                      dropped both ways, nothing acknowledged: CutPath;
//	                                      409 with the reason when there is no path to cut)
//	POST /devsfu/leave?identity=I&action=DISCONNECT|RESUME|RECONNECT&reason=PARTICIPANT_REMOVED
//	POST /devsfu/data-track-faults?identity=I&drop_every=N&duplicate=1&reorder=1&delay_ms=D
//	POST /devsfu/publish-fault?identity=I&no_answer=1 | &hold=1 | &reason=NOT_ALLOWED&message=…  (no params = clear)
//	POST /devsfu/release-held-publishes                (answer the publishes hold=1 kept)
//	POST /devsfu/force-full-reconnect?identity=I&on=true|false
//	POST /devsfu/pause-signal?identity=I&on=true|false
//	POST /devsfu/force-relay?on=true|false            (client_configuration.force_relay)
//	POST /devsfu/turn-wrong-credentials?on=true|false (hand out refused TURN passwords)
//	POST /devsfu/clear-faults
//	POST /devsfu/restart
//	POST /devsfu/room-metadata?room=R&metadata=M       (RoomService.UpdateRoomMetadata)
//	POST /devsfu/recording?room=R&on=B                 (an egress of the room started or ended:
//	                                      Room.active_recording)
//	POST /devsfu/permission?room=R&identity=I&can_subscribe=B&can_publish=B&can_publish_data=B&can_update_metadata=B
//	                                      (RoomService.UpdateParticipant's permission)
//	POST /devsfu/connection-quality?room=R&identity=I&quality=POOR|GOOD|EXCELLENT|LOST
//	                                      (rate I so from the next rating on, as if its media
//	                                      degraded; no quality: rated as without media again)
//	POST /devsfu/audio-level?room=R&identity=I&level=L   (I speaks at level L, 0 to 1, from the next
//	                                      speaker update on, as if its microphone were measured so;
//	                                      0: silent)
//	POST /devsfu/move?room=R&identity=I&destination=D  (LiveKit Cloud's MoveParticipant;
//	                                      409 with the reason when refused)
//	POST /devsfu/media-track?room=R&identity=I&sid=S&kind=audio|video&source=camera|microphone|screen_share|screen_share_audio
//	     &name=N&muted=B&mime=M&width=W&height=H&simulcast=B&encrypted=B
//	                                      (I publishes media track S from a browser, or changes it:
//	                                      SetMediaTrack; &remove=1 unpublishes it)
//	GET  /devsfu/participants?room=R   → ["alice","bob"]
//	GET  /devsfu/stats                 → Stats as JSON
//	GET  /devsfu/turn-stats            → TURNStats as JSON
//	GET  /devsfu/turn-credentials?identity=I → {"urls":[…],"username":…,"credential":…}
//	                                      (TURNICEServer: a client's own TURN configuration;
//	                                      404 without TURN)
//
// An empty identity means "everyone" where the method allows it.
func (s *Server) controlHandler() http.Handler {
	m := http.NewServeMux()
	post := func(path string, f func(w http.ResponseWriter, r *http.Request) bool) {
		m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			if !f(w, r) {
				http.Error(w, "participant not found", http.StatusNotFound)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	id := func(r *http.Request) string { return r.FormValue("identity") }
	on := func(r *http.Request) bool { b, _ := strconv.ParseBool(r.FormValue("on")); return b }
	post("/devsfu/drop-signal", func(_ http.ResponseWriter, r *http.Request) bool { return s.DropSignal(id(r)) })
	post("/devsfu/kill-ice", func(_ http.ResponseWriter, r *http.Request) bool {
		if on(r) {
			s.KillICE(id(r))
		} else {
			s.RestoreICE(id(r))
		}
		return true
	})
	post("/devsfu/close-transport", func(_ http.ResponseWriter, r *http.Request) bool { return s.CloseTransport(id(r)) })
	post("/devsfu/leave", func(_ http.ResponseWriter, r *http.Request) bool {
		action := lkpb.LeaveRequest_Action(lkpb.LeaveRequest_Action_value[r.FormValue("action")])
		reason := lkpb.DisconnectReason(lkpb.DisconnectReason_value[r.FormValue("reason")])
		return s.SendLeave(id(r), action, reason)
	})
	post("/devsfu/data-track-faults", func(_ http.ResponseWriter, r *http.Request) bool {
		n, _ := strconv.Atoi(r.FormValue("drop_every"))
		d, _ := strconv.Atoi(r.FormValue("delay_ms"))
		dup, _ := strconv.ParseBool(r.FormValue("duplicate"))
		reo, _ := strconv.ParseBool(r.FormValue("reorder"))
		s.SetDataTrackFaults(id(r), FaultConfig{DropEvery: n, Duplicate: dup, Reorder: reo, Delay: time.Duration(d) * time.Millisecond})
		return true
	})
	post("/devsfu/publish-fault", func(_ http.ResponseWriter, r *http.Request) bool {
		noAns, _ := strconv.ParseBool(r.FormValue("no_answer"))
		hold, _ := strconv.ParseBool(r.FormValue("hold"))
		reason, ok := lkpb.RequestResponse_Reason_value[r.FormValue("reason")]
		if !noAns && !hold && !ok {
			s.SetPublishFault(id(r), nil)
			return true
		}
		s.SetPublishFault(id(r), &PublishFault{NoAnswer: noAns, Hold: hold, Reason: lkpb.RequestResponse_Reason(reason), Message: r.FormValue("message")})
		return true
	})
	post("/devsfu/release-held-publishes", func(http.ResponseWriter, *http.Request) bool { s.ReleaseHeldPublishes(); return true })
	post("/devsfu/force-full-reconnect", func(_ http.ResponseWriter, r *http.Request) bool {
		s.ForceFullReconnect(id(r), on(r))
		return true
	})
	post("/devsfu/pause-signal", func(_ http.ResponseWriter, r *http.Request) bool {
		s.PauseSignal(id(r), on(r))
		return true
	})
	post("/devsfu/force-relay", func(_ http.ResponseWriter, r *http.Request) bool {
		s.SetForceRelay(on(r))
		return true
	})
	post("/devsfu/turn-wrong-credentials", func(_ http.ResponseWriter, r *http.Request) bool {
		s.SetTURNWrongCredentials(on(r))
		return true
	})
	post("/devsfu/clear-faults", func(http.ResponseWriter, *http.Request) bool { s.ClearFaults(); return true })
	post("/devsfu/restart", func(http.ResponseWriter, *http.Request) bool { s.Restart(); return true })
	post("/devsfu/room-metadata", func(_ http.ResponseWriter, r *http.Request) bool {
		return s.UpdateRoomMetadata(r.FormValue("room"), r.FormValue("metadata"))
	})
	post("/devsfu/recording", func(_ http.ResponseWriter, r *http.Request) bool {
		return s.SetRoomRecording(r.FormValue("room"), on(r))
	})
	post("/devsfu/permission", func(_ http.ResponseWriter, r *http.Request) bool {
		b := func(k string) bool { v, _ := strconv.ParseBool(r.FormValue(k)); return v }
		return s.UpdateParticipantPermission(r.FormValue("room"), id(r), &lkpb.ParticipantPermission{
			CanSubscribe: b("can_subscribe"), CanPublish: b("can_publish"),
			CanPublishData: b("can_publish_data"), CanUpdateMetadata: b("can_update_metadata"),
		})
	})
	m.HandleFunc("/devsfu/connection-quality", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var q *lkpb.ConnectionQuality
		if name := r.FormValue("quality"); name != "" {
			v, ok := lkpb.ConnectionQuality_value[name]
			if !ok {
				http.Error(w, "unknown quality "+strconv.Quote(name), http.StatusBadRequest)
				return
			}
			q = lkpb.ConnectionQuality(v).Enum()
		}
		if !s.SetConnectionQuality(r.FormValue("room"), id(r), q) {
			http.Error(w, "room not found", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("/devsfu/audio-level", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		level, err := strconv.ParseFloat(r.FormValue("level"), 32)
		if err != nil || !(level >= 0 && level <= 1) {
			http.Error(w, "level must be a number from 0 to 1", http.StatusBadRequest)
			return
		}
		if !s.SetAudioLevel(r.FormValue("room"), id(r), float32(level)) {
			http.Error(w, "room not found", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("/devsfu/cut-path", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if err := s.CutPath(id(r), on(r)); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("/devsfu/move", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if err := s.MoveParticipant(r.FormValue("room"), id(r), r.FormValue("destination")); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	post("/devsfu/media-track", func(_ http.ResponseWriter, r *http.Request) bool {
		b := func(k string) bool { v, _ := strconv.ParseBool(r.FormValue(k)); return v }
		if b("remove") {
			return s.RemoveMediaTrack(r.FormValue("room"), id(r), r.FormValue("sid"))
		}
		u := func(k string) uint32 { v, _ := strconv.ParseUint(r.FormValue(k), 10, 32); return uint32(v) }
		t := &lkpb.TrackInfo{
			Sid: r.FormValue("sid"), Name: r.FormValue("name"), Muted: b("muted"), MimeType: r.FormValue("mime"),
			Width: u("width"), Height: u("height"), Simulcast: b("simulcast"),
			Source: lkpb.TrackSource(lkpb.TrackSource_value[strings.ToUpper(r.FormValue("source"))]),
		}
		if r.FormValue("kind") == "video" {
			t.Type = lkpb.TrackType_VIDEO
		}
		if b("encrypted") {
			t.Encryption = lkpb.Encryption_GCM
		}
		return s.SetMediaTrack(r.FormValue("room"), id(r), t)
	})
	m.HandleFunc("/devsfu/participants", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		ids := s.Participants(r.FormValue("room"))
		if ids == nil {
			ids = []string{}
		}
		_ = json.NewEncoder(w).Encode(ids)
	})
	m.HandleFunc("/devsfu/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	m.HandleFunc("/devsfu/turn-stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.TURNStats())
	})
	m.HandleFunc("/devsfu/turn-credentials", func(w http.ResponseWriter, r *http.Request) {
		is, ok := s.TURNICEServer(id(r))
		if !ok {
			http.Error(w, "no TURN server", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(TURNCredentials{is.GetUrls(), is.GetUsername(), is.GetCredential()})
	})
	return m
}
