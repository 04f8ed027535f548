package room

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
)

// speakerTable returns a table whose local participant is "me" (PA_me) with remotes a and b
// (PA_a, PA_b).
func speakerTable(t *testing.T) *participantTable {
	t.Helper()
	local := &LocalParticipant{}
	local.store(&lkpb.ParticipantInfo{Sid: "PA_me", Identity: "me", State: lkpb.ParticipantInfo_ACTIVE})
	tab := newParticipantTable(local)
	tab.seed([]*lkpb.ParticipantInfo{
		{Sid: "PA_a", Identity: "a", State: lkpb.ParticipantInfo_ACTIVE},
		{Sid: "PA_b", Identity: "b", State: lkpb.ParticipantInfo_ACTIVE},
	})
	return tab
}

// describe renders the speaker events of evs, e.g. "a+0.5 b- [a]".
func describe(evs []Event) string {
	var parts []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case SpeakingChanged:
			if e.Info.Speaking != e.Speaking || e.Info.AudioLevel != e.AudioLevel || e.Info.Identity != e.Participant.Identity() {
				parts = append(parts, "bad-info")
			}
			if e.Speaking {
				parts = append(parts, fmt.Sprintf("%s+%g", e.Participant.Identity(), e.AudioLevel))
			} else {
				parts = append(parts, e.Participant.Identity()+"-")
			}
		case ActiveSpeakersChanged:
			ids := make([]string, len(e.Speakers))
			for i, p := range e.Speakers {
				ids[i] = p.Identity()
			}
			parts = append(parts, "["+strings.Join(ids, " ")+"]")
		case ParticipantDisconnected:
			parts = append(parts, "left:"+e.Participant.Identity())
		case ParticipantInfoChanged:
			parts = append(parts, "session:"+e.Participant.Identity())
		}
	}
	return strings.Join(parts, " ")
}

func speakers(infos ...*lkpb.SpeakerInfo) *lkpb.SpeakersChanged {
	return &lkpb.SpeakersChanged{Speakers: infos}
}

func on(sid string, level float32) *lkpb.SpeakerInfo {
	return &lkpb.SpeakerInfo{Sid: sid, Level: level, Active: true}
}

func off(sid string) *lkpb.SpeakerInfo { return &lkpb.SpeakerInfo{Sid: sid} }

// TestApplySpeakers: each change of a participant's state is a SpeakingChanged in the
// message's order, the list follows when it changed (loudest first, equal levels by
// identity, the local participant included); unknown sessions are skipped, levels sanitised,
// a repeated sid counts last, and an unchanged entry is no event.
func TestApplySpeakers(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []*lkpb.SpeakersChanged
		want string // events of the last message
	}{
		{"one speaker", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.5))}, "a+0.5 [a]"},
		{"loudest first, local included", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.25), on("PA_me", 0.5), on("PA_b", 0.75))},
			"a+0.25 me+0.5 b+0.75 [b me a]"},
		{"equal levels by identity", []*lkpb.SpeakersChanged{speakers(on("PA_b", 0.5), on("PA_a", 0.5))}, "b+0.5 a+0.5 [a b]"},
		{"level change keeping the order: no list", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.5), on("PA_b", 0.25)),
			speakers(on("PA_a", 0.75))}, "a+0.75"},
		{"level change reordering", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.5), on("PA_b", 0.25)),
			speakers(on("PA_b", 0.75))}, "b+0.75 [b a]"},
		{"unchanged: nothing", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.5)), speakers(on("PA_a", 0.5))}, ""},
		{"stops", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.5), on("PA_b", 0.25)), speakers(off("PA_a"))}, "a- [b]"},
		{"inactive with a level: level 0", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.5)),
			speakers(&lkpb.SpeakerInfo{Sid: "PA_a", Level: 0.5})}, "a- []"},
		{"unknown and empty sids skipped", []*lkpb.SpeakersChanged{speakers(on("PA_x", 0.5), on("", 0.5), on("PA_a", 0.5))}, "a+0.5 [a]"},
		{"levels clamped", []*lkpb.SpeakersChanged{speakers(on("PA_a", float32(math.NaN())), on("PA_b", 7), on("PA_me", -1))},
			"a+0 b+1 me+0 [b a me]"},
		{"repeated sid: the last entry (the list did not change)", []*lkpb.SpeakersChanged{speakers(on("PA_a", 0.5), off("PA_a"))}, "a+0.5 a-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := speakerTable(t)
			var evs []Event
			for _, m := range tc.msgs {
				evs = tab.applySpeakers(m)
			}
			if got := describe(evs); got != tc.want {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSpeakersFollowParticipants: a speaker's departure, a speaker's new session, a full
// reconnect's list without it and forgetting (a full reconnect, a move) each leave the list
// without the speaker and report it, the participant's state cleared; the getters agree.
func TestSpeakersFollowParticipants(t *testing.T) {
	t.Run("departure", func(t *testing.T) {
		tab := speakerTable(t)
		tab.applySpeakers(speakers(on("PA_a", 0.5), on("PA_b", 0.25)))
		a := tab.remote("a")
		evs, _ := tab.apply([]*lkpb.ParticipantInfo{{Sid: "PA_a", Identity: "a", State: lkpb.ParticipantInfo_DISCONNECTED}})
		if got := describe(evs); got != "left:a [b]" {
			t.Fatalf("events %q", got)
		}
		if a.IsSpeaking() || a.AudioLevel() != 0 {
			t.Fatal("a departed speaking")
		}
		// A late entry about the departed session is skipped.
		if got := describe(tab.applySpeakers(speakers(off("PA_a")))); got != "" {
			t.Fatalf("late entry: %q", got)
		}
	})
	t.Run("new session", func(t *testing.T) {
		tab := speakerTable(t)
		tab.applySpeakers(speakers(on("PA_a", 0.5)))
		evs, _ := tab.apply([]*lkpb.ParticipantInfo{{Sid: "PA_a2", Identity: "a", State: lkpb.ParticipantInfo_ACTIVE}})
		if got := describe(evs); got != "session:a a- []" {
			t.Fatalf("events %q", got)
		}
		if info := evs[0].(ParticipantInfoChanged).Info; info.Speaking || info.AudioLevel != 0 {
			t.Fatalf("the new session's info speaks: %+v", info)
		}
		// The old session's entries no longer apply; the new one's do.
		if got := describe(tab.applySpeakers(speakers(on("PA_a", 0.5), on("PA_a2", 0.25)))); got != "a+0.25 [a]" {
			t.Fatalf("events %q", got)
		}
	})
	t.Run("full reconnect's list", func(t *testing.T) {
		tab := speakerTable(t)
		tab.applySpeakers(speakers(on("PA_a", 0.5), on("PA_b", 0.25)))
		if got := describe(tab.retain([]*lkpb.ParticipantInfo{{Sid: "PA_b", Identity: "b"}})); got != "left:a [b]" {
			t.Fatalf("events %q", got)
		}
	})
	t.Run("forget", func(t *testing.T) {
		tab := speakerTable(t)
		tab.applySpeakers(speakers(on("PA_b", 0.5), on("PA_me", 0.25)))
		if got := describe(tab.forgetSpeakers()); got != "me- b- []" {
			t.Fatalf("events %q", got)
		}
		if len(tab.activeSpeakers()) != 0 || tab.local.IsSpeaking() || tab.remote("b").IsSpeaking() {
			t.Fatal("still speaking after forgetting")
		}
		if got := describe(tab.forgetSpeakers()); got != "" {
			t.Fatalf("forgetting again: %q", got)
		}
	})
	t.Run("reset", func(t *testing.T) {
		tab := speakerTable(t)
		tab.applySpeakers(speakers(on("PA_me", 0.5)))
		tab.reset()
		if tab.local.IsSpeaking() || tab.speakers != nil {
			t.Fatal("a new attempt keeps the old speakers")
		}
	})
	t.Run("snapshot order", func(t *testing.T) {
		tab := speakerTable(t)
		tab.applySpeakers(speakers(on("PA_a", 0.25), on("PA_b", 0.5)))
		var got []string
		for _, p := range tab.activeSpeakers() {
			got = append(got, p.Identity())
		}
		if !slices.Equal(got, []string{"b", "a"}) {
			t.Fatalf("activeSpeakers %v", got)
		}
	})
}
