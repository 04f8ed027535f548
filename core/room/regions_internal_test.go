package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

func TestIsCloudHost(t *testing.T) {
	for host, want := range map[string]bool{
		"myapp.livekit.cloud":        true,
		"myapp.region.livekit.cloud": true,
		"myapp.livekit.run":          true,
		"MyApp.LiveKit.Cloud":        true,
		"myapp.livekit.cloud.":       true,
		"livekit.cloud":              false, // not a project's host
		"livekit.cloud.example.com":  false,
		"example.com":                false,
		"localhost":                  false,
		"127.0.0.1":                  false,
		"notlivekit.cloud":           false,
	} {
		if got := isCloudHost(host); got != want {
			t.Errorf("isCloudHost(%q) = %v", host, got)
		}
	}
}

func TestParseRegions(t *testing.T) {
	got, err := parseRegions([]byte(`{"regions":[
		{"region":"a","url":"https://a.livekit.cloud","distance":"10"},
		{"region":"b","url":"wss://b.livekit.cloud"},
		{"region":"a again","url":"https://a.livekit.cloud"},
		{"region":"no host","url":"https://"},
		{"region":"other scheme","url":"ftp://c.livekit.cloud"},
		{"region":"no url"},
		{"region":"c","url":"ws://c.example:7880","extra":{"x":1}}],"other":true}`), false)
	want := []string{"https://a.livekit.cloud", "wss://b.livekit.cloud", "ws://c.example:7880"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("parseRegions = %q, %v", got, err)
	}
	var many strings.Builder
	many.WriteString(`{"regions":[`)
	for i := range maxRegions + 5 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `{"url":"wss://r%d.livekit.cloud"}`, i)
	}
	many.WriteString("]}")
	if got, err := parseRegions([]byte(many.String()), true); err != nil || len(got) != maxRegions || got[0] != "wss://r0.livekit.cloud" {
		t.Fatalf("a long list: %d URLs, %v", len(got), err)
	}
	for _, bad := range []string{"", "[]", `{"regions":{}}`, "<html>"} {
		if _, err := parseRegions([]byte(bad), false); err == nil {
			t.Errorf("parseRegions(%q) accepted", bad)
		}
	}
	if got, err := parseRegions([]byte(`{}`), false); err != nil || len(got) != 0 {
		t.Fatalf("no regions: %q, %v", got, err)
	}
	// Behind a TLS Connect URL, a region without TLS is never used.
	if got, err := parseRegions([]byte(`{"regions":[{"url":"ws://a.livekit.cloud"},{"url":"http://b.livekit.cloud"},{"url":"wss://c.livekit.cloud"},{"url":"HTTPS://d.livekit.cloud"}]}`), true); err != nil ||
		!slices.Equal(got, []string{"wss://c.livekit.cloud", "HTTPS://d.livekit.cloud"}) {
		t.Fatalf("secure: %q, %v", got, err)
	}
	leave := &lkpb.LeaveRequest{Regions: &lkpb.RegionSettings{Regions: []*lkpb.RegionInfo{
		{Region: "a", Url: "https://a.livekit.cloud"}, {Region: "bad", Url: "x"}, {Region: "a", Url: "https://a.livekit.cloud"}, {Region: "plain", Url: "ws://p.livekit.cloud"},
	}}}
	if got := regionsFromLeave(leave, true); !slices.Equal(got, []string{"https://a.livekit.cloud"}) {
		t.Fatalf("regionsFromLeave = %q", got)
	}
	if got := regionsFromLeave(leave, false); !slices.Equal(got, []string{"https://a.livekit.cloud", "ws://p.livekit.cloud"}) {
		t.Fatalf("regionsFromLeave without TLS = %q", got)
	}
	if got := regionsFromLeave(&lkpb.LeaveRequest{}, false); got != nil {
		t.Fatalf("a leave without regions: %q", got)
	}
}

func TestParseMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"max-age=300":           300 * time.Second,
		"public, max-age=30":    30 * time.Second,
		"MAX-AGE=0, no-cache":   0,
		`max-age="7"`:           7 * time.Second,
		"s-maxage=5, max-age=9": 9 * time.Second,
	} {
		if got, ok := parseMaxAge(in); !ok || got != want {
			t.Errorf("parseMaxAge(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "no-store", "max-age=x", "max-age=-1", "max-age=99999999999"} {
		if got, ok := parseMaxAge(in); ok {
			t.Errorf("parseMaxAge(%q) = %v", in, got)
		}
	}
}

// The failover state: order, what counts as tried, freshness, reset.
func TestRegionList(t *testing.T) {
	var l regionList
	t0 := time.Unix(1000, 0)
	// fresh: whether a caller needing the list at now would use it as it
	// is (a fetch it would start instead ends at once, failed).
	fresh := func(now time.Time) bool {
		done, lead := l.beginFetch(now)
		if lead {
			l.endFetch([]string{"fetched"}, time.Hour, now, errors.New("not fetched"))
		}
		return done == nil
	}
	if fresh(t0) {
		t.Fatal("an empty list is fresh")
	}
	if u, ok := l.next("wss://failed"); ok {
		t.Fatalf("next of an empty list: %q", u)
	}
	l.set([]string{"a", "b", "c"}, 5*time.Second, t0)
	if !fresh(t0.Add(4*time.Second)) || fresh(t0.Add(5*time.Second)) {
		t.Fatal("freshness is not the max-age")
	}
	// The URL that failed is skipped when the list names it, and each URL
	// is handed out once.
	var order []string
	for failed := "b"; ; {
		u, ok := l.next(failed)
		if !ok {
			break
		}
		order, failed = append(order, u), u
	}
	if !slices.Equal(order, []string{"a", "c"}) {
		t.Fatalf("order %q", order)
	}
	// A new list keeps what was tried; a reset forgets it.
	l.set([]string{"c", "d"}, 0, t0)
	if u, ok := l.next(""); !ok || u != "d" {
		t.Fatalf("after set: %q %v", u, ok)
	}
	if fresh(t0) {
		t.Fatal("max-age 0 is fresh")
	}
	l.reset()
	if u, ok := l.next(""); !ok || u != "c" {
		t.Fatalf("after reset: %q %v", u, ok)
	}
	// A list without regions is a list: fresh for its max-age, not asked
	// for again at each failure.
	l.set(nil, time.Second, t0)
	if !fresh(t0) {
		t.Fatal("an empty list fetched is not fresh")
	}
	if u, ok := l.next("x"); ok {
		t.Fatalf("next of an empty list: %q", u)
	}
	// Forgotten (another URL): no list, nothing tried, fetched again.
	l.set([]string{"a"}, time.Hour, t0)
	if _, ok := l.next(""); !ok {
		t.Fatal("no region")
	}
	l.forget()
	if u, ok := l.next(""); ok || fresh(t0) {
		t.Fatalf("after forget: %q, fresh %v", u, fresh(t0))
	}
}

// One fetch at a time: callers that need the list while it is fetched wait
// for that fetch; its list is kept unless a newer one was set meanwhile; a
// failed fetch wakes the waiters and leaves the list as it was.
func TestRegionListFetches(t *testing.T) {
	var l regionList
	t0 := time.Unix(1000, 0)
	done, lead := l.beginFetch(t0)
	if done == nil || !lead {
		t.Fatal("an empty list is not fetched")
	}
	again, lead2 := l.beginFetch(t0.Add(time.Millisecond))
	if again != done || lead2 {
		t.Fatal("a second caller during the fetch does not wait for it")
	}
	l.endFetch([]string{"a", "b"}, 10*time.Second, t0, nil)
	select {
	case <-done:
	default:
		t.Fatal("the waiters are not woken")
	}
	// Fresh for max-age from the fetch's start.
	if d, _ := l.beginFetch(t0.Add(9 * time.Second)); d != nil {
		t.Fatal("the fetched list is not used")
	}
	if u, ok := l.next(""); !ok || u != "a" {
		t.Fatalf("first region %q %v", u, ok)
	}

	// A failed fetch: the stale list stays, the next caller fetches.
	done, lead = l.beginFetch(t0.Add(10 * time.Second))
	if !lead {
		t.Fatal("a stale list is not fetched")
	}
	l.endFetch(nil, 0, t0.Add(10*time.Second), errors.New("unreachable"))
	<-done
	if u, ok := l.next(""); !ok || u != "b" {
		t.Fatalf("the stale list after a failed fetch: %q %v", u, ok)
	}
	if _, lead = l.beginFetch(t0.Add(11 * time.Second)); !lead {
		t.Fatal("no fetch after a failed one")
	}
	// A list set during the fetch (a LeaveRequest's) is newer: kept.
	l.set([]string{"leave"}, 5*time.Second, t0.Add(11*time.Second))
	l.endFetch([]string{"fetched"}, time.Hour, t0.Add(11*time.Second), nil)
	l.reset()
	if u, ok := l.next(""); !ok || u != "leave" {
		t.Fatalf("after a leave's list during a fetch: %q %v", u, ok)
	}
	if d, _ := l.beginFetch(t0.Add(17 * time.Second)); d == nil {
		t.Fatal("the leave's list is fresh beyond its max-age (the fetch's was used)")
	}
}

// When the list is fetched again while the room lives: at its expiry; once
// stale, after its max-age (the default without one); never within
// regionMinRefresh.
func TestRegionListRefreshIn(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var l regionList
	if d := l.refreshIn(t0); d != regionDefaultMaxAge {
		t.Fatalf("no list: %v", d)
	}
	l.set([]string{"wss://a"}, time.Minute, t0)
	for _, c := range []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, time.Minute},
		{10 * time.Second, 50 * time.Second},
		{time.Minute - 100*time.Millisecond, regionMinRefresh},
		{time.Minute, time.Minute}, // stale: after its max-age
		{time.Hour, time.Minute},
	} {
		if d := l.refreshIn(t0.Add(c.at)); d != c.want {
			t.Errorf("a 1 min list, %v later: %v, want %v", c.at, d, c.want)
		}
	}
	// A failed fetch leaves the list and its max-age.
	done, lead := l.beginFetch(t0.Add(time.Hour))
	if !lead {
		t.Fatal("no fetch of a stale list")
	}
	l.endFetch(nil, 0, t0.Add(time.Hour), errors.New("refused"))
	<-done
	if d := l.refreshIn(t0.Add(time.Hour)); d != time.Minute {
		t.Fatalf("after a failed fetch: %v", d)
	}
	// max-age 0: the list is stale at once; fetched again after the default.
	l.set([]string{"wss://a"}, 0, t0)
	if d := l.refreshIn(t0); d != regionDefaultMaxAge {
		t.Fatalf("max-age 0: %v", d)
	}
	l.set([]string{"wss://a"}, 200*time.Millisecond, t0)
	if d := l.refreshIn(t0); d != regionMinRefresh {
		t.Fatalf("max-age 200 ms: %v", d)
	}
	l.forget()
	if d := l.refreshIn(t0); d != regionDefaultMaxAge {
		t.Fatalf("forgotten: %v", d)
	}
}
