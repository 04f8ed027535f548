package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/auth"
)

func TestTokenCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := tokenCmd([]string{"--room", "R", "--identity", "I", "--key", "K", "--secret", "S-secret-S-secret-S-secret-S-sec"}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	c, err := auth.Verify(strings.TrimSpace(out.String()), func(k string) (string, bool) {
		return "S-secret-S-secret-S-secret-S-sec", k == "K"
	}, time.Now())
	if err != nil || c.Identity != "I" || c.Video.Room != "R" || !c.Video.RoomJoin || !c.Video.EffectiveCanPublishData() {
		t.Fatalf("%v %+v", err, c)
	}
	if rc := tokenCmd([]string{"--room", "R"}, &out, &errb); rc != 2 {
		t.Fatalf("missing identity accepted")
	}
}
