package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/internal/wsconn"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Region failover on LiveKit Cloud (docs/protocol.md, Regions): when the
// URL given to Connect cannot be joined, the project's other regions are
// tried, in the order LiveKit Cloud lists them, as the official SDKs do.
const (
	// regionFetchTimeout bounds one request for the region list.
	regionFetchTimeout = 3 * time.Second
	// regionDefaultMaxAge is how long a list is used without Cache-Control
	// max-age (and a list a LeaveRequest reports).
	regionDefaultMaxAge = 5 * time.Second
	// maxRegionsBody caps the region list's response body.
	maxRegionsBody = 64 << 10
	// maxRegions caps how many regions of a list are kept.
	maxRegions = 32
	// regionMinRefresh is the shortest wait between two fetches of the list
	// while the room lives (keepRegionsFresh).
	regionMinRefresh = time.Second
)

// errRegionListRefused: the configuration endpoint refused the room's token
// (HTTP 401 or 403); another fetch with the same token would be refused too.
var errRegionListRefused = errors.New("the token was refused")

// isCloudHost reports whether host is LiveKit Cloud's (the official SDKs'
// test: a name under livekit.cloud or livekit.run). Only such hosts have
// regions to fail over to.
func isCloudHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.HasSuffix(h, ".livekit.cloud") || strings.HasSuffix(h, ".livekit.run")
}

// parseRegions reads the region list ({"regions":[{"region","url",
// "distance"}, …]}, LiveKit's RegionSettings in JSON): the URLs in order,
// each once, those with a scheme other than ws, wss, http or https (only
// wss and https when secure) or without a host skipped, at most maxRegions.
func parseRegions(body []byte, secure bool) ([]string, error) {
	var settings struct {
		Regions []struct {
			URL string `json:"url"`
		} `json:"regions"`
	}
	if err := json.Unmarshal(body, &settings); err != nil {
		return nil, fmt.Errorf("region list: %w", err)
	}
	var urls []string
	for _, r := range settings.Regions {
		urls = addRegion(urls, r.URL, secure)
	}
	return urls, nil
}

// regionsFromLeave is the list a LeaveRequest carries (same rules as
// parseRegions; nil when it carries none).
func regionsFromLeave(l *lkpb.LeaveRequest, secure bool) []string {
	var urls []string
	for _, r := range l.GetRegions().GetRegions() {
		urls = addRegion(urls, r.GetUrl(), secure)
	}
	return urls
}

// addRegion appends a region's URL to urls unless it is there already, is
// not a ws, wss, http or https URL with a host, or urls has maxRegions.
// With secure (the Connect URL uses TLS) only wss and https are kept, so a
// failover never sends the token without TLS.
func addRegion(urls []string, s string, secure bool) []string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || len(urls) >= maxRegions || slices.Contains(urls, s) {
		return urls
	}
	switch strings.ToLower(u.Scheme) {
	case "wss", "https":
		return append(urls, s)
	case "ws", "http":
		if !secure {
			return append(urls, s)
		}
	}
	return urls
}

// isSecureURL reports whether a server URL uses TLS (wss or https).
func isSecureURL(s string) bool {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "wss" || scheme == "https"
}

// parseMaxAge reads max-age from a Cache-Control header (false: none).
func parseMaxAge(cacheControl string) (time.Duration, bool) {
	for _, d := range strings.Split(cacheControl, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "max-age") {
			continue
		}
		n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(value), `"`), 10, 32)
		if err != nil {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	return 0, false
}

// regionList is a Room's failover state: the region URLs last fetched or
// reported by the server, until when they are fresh (and the max-age that
// gave), the ones tried since the room last connected, and the fetch under
// way if any (one at a time: the background fetches and the failovers share
// it). Time is passed in. Its own mutex: Connect, the background fetches and
// the loop's dial goroutines use it.
type regionList struct {
	mu      sync.Mutex
	urls    []string
	expires time.Time
	maxAge  time.Duration
	tried   []string
	// version counts the lists set; fetching is closed when the fetch under
	// way ends (nil: none), fetchFrom is the version it started from.
	version   uint64
	fetching  chan struct{}
	fetchFrom uint64
}

// set replaces the list, fresh for maxAge from now.
func (l *regionList) set(urls []string, maxAge time.Duration, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.urls, l.expires, l.maxAge = urls, now.Add(maxAge), maxAge
	l.version++
}

// beginFetch decides what a caller needing a fresh list at now does: nothing
// (nil: the list is fresh), wait for the fetch under way (its channel, false),
// or fetch (true: a new channel, closed by endFetch).
func (l *regionList) beginFetch(now time.Time) (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.expires.IsZero() && now.Before(l.expires) {
		return nil, false
	}
	if l.fetching != nil {
		return l.fetching, false
	}
	l.fetching, l.fetchFrom = make(chan struct{}), l.version
	return l.fetching, true
}

// endFetch ends the fetch beginFetch started at started: with err nil its
// list replaces the current one (fresh for maxAge from started) unless
// another was set meanwhile (a LeaveRequest's, which is newer). Waiters are
// woken either way.
func (l *regionList) endFetch(urls []string, maxAge time.Duration, started time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.version == l.fetchFrom {
		l.urls, l.expires, l.maxAge = urls, started.Add(maxAge), maxAge
		l.version++
	}
	close(l.fetching)
	l.fetching = nil
}

// refreshIn is how long after now the list is to be fetched again while
// the room lives: when it goes stale; when it is stale already (the last
// fetch failed, or its max-age was 0), after the max-age of the last list
// (regionDefaultMaxAge if none or 0), as livekit-client retries; never
// sooner than regionMinRefresh.
func (l *regionList) refreshIn(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.expires.Sub(now)
	if l.expires.IsZero() || d <= 0 {
		d = l.maxAge
		if d <= 0 {
			d = regionDefaultMaxAge
		}
	}
	return max(d, regionMinRefresh)
}

// next returns the first URL of the list (fresh or not) that was not tried
// since the last reset, other than failed (the URL whose join just failed),
// and counts it as tried; false when none is left. failed is counted as
// tried too.
func (l *regionList) next(failed string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failed != "" && !slices.Contains(l.tried, failed) {
		l.tried = append(l.tried, failed)
	}
	for _, u := range l.urls {
		if !slices.Contains(l.tried, u) {
			l.tried = append(l.tried, u)
			return u, true
		}
	}
	return "", false
}

// forget drops the list and what was tried (Connect to another URL: another
// project's regions). Not during a fetch.
func (l *regionList) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.urls, l.expires, l.maxAge, l.tried = nil, time.Time{}, 0, nil
	l.version++
}

// reset forgets which URLs were tried (the room connected, or a new round
// of attempts starts from the Connect URL).
func (l *regionList) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tried = nil
}

// nextRegion returns the region to join after the join to failed failed:
// "" when the Connect URL is not LiveKit Cloud's, or no region is left. A
// missing or stale list is fetched first (refreshRegions); when that fails,
// a stale list is still used.
func (r *Room) nextRegion(ctx context.Context, failed string) string {
	if !r.cloud {
		return ""
	}
	if err := r.refreshRegions(ctx); err != nil {
		r.log.Warn("room: fetching the region list", "err", err) // a stale list is still used
	}
	u, ok := r.regions.next(failed)
	if !ok {
		return ""
	}
	r.log.Info("room: trying another region", "failed", redactURL(failed), "next", redactURL(u))
	return u
}

// refreshRegions makes the region list fresh if it is not: a fetch already
// under way (the background refresh's, another dial's) is waited for rather than
// repeated, and fetched again only if it did not give a fresh list. Bounded
// by ctx and regionFetchTimeout per fetch, and ended by Disconnect; a failed
// fetch leaves the list as it was and is returned (nil when this call did
// not fetch).
func (r *Room) refreshRegions(ctx context.Context) error {
	for ctx.Err() == nil && !r.disconnectRequested() {
		now := time.Now()
		done, lead := r.regions.beginFetch(now)
		if done == nil {
			return nil
		}
		if !lead {
			select {
			case <-done:
			case <-ctx.Done():
			}
			continue
		}
		urls, maxAge, err := r.fetchRegions(ctx)
		r.regions.endFetch(urls, maxAge, now, err)
		return err
	}
	return nil
}

// keepRegionsFresh fetches the region list now and then again whenever it
// goes stale (refreshIn), until ctx ends, as livekit-client does while
// connected to LiveKit Cloud: a reconnection that needs another region finds
// a list at most its max-age old. After a refusal of the token it fetches
// again only with another token (the server's refresh_token). The first
// failure of a series is logged as a warning, the next ones at debug level.
func (r *Room) keepRegionsFresh(ctx context.Context) {
	refused, failing := "", false
	for {
		if tok := *r.token.Load(); tok != refused {
			refused = ""
			err := r.refreshRegions(ctx)
			switch {
			case err == nil:
				failing = false
			case ctx.Err() != nil:
				return // Disconnect, the room's end, a failed Connect
			case !failing:
				r.log.Warn("room: fetching the region list", "err", err)
				failing = true
			default:
				r.log.Debug("room: fetching the region list", "err", err)
			}
			if errors.Is(err, errRegionListRefused) {
				refused = tok
			}
		}
		t := time.NewTimer(r.regions.refreshIn(time.Now()))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// startRegionRefresh starts fetching the region list in the background
// when Connect starts, as the official clients do on LiveKit Cloud: a join
// that fails then finds the list (or the fetch under way) instead of
// starting it, and a list fetched now is still there, if stale, when a later
// fetch fails. The list is then kept fresh (keepRegionsFresh) until
// Disconnect, the end of the room, or stop, which also waits for it (Connect
// failing: nothing may stay running); finish waits for it too.
func (r *Room) startRegionRefresh() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	r.regionFetches.Add(2)
	go func() {
		defer r.regionFetches.Done()
		select {
		case <-r.disconnectCh:
		case <-r.closing:
		case <-ctx.Done():
		}
		cancel()
	}()
	go func() {
		defer r.regionFetches.Done()
		defer cancel()
		r.keepRegionsFresh(ctx)
	}()
	return func() {
		cancel()
		r.regionFetches.Wait()
	}
}

// fetchRegions requests the project's region list with the room's token.
func (r *Room) fetchRegions(ctx context.Context) ([]string, time.Duration, error) {
	endpoint, err := signal.RegionsURL(r.url)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, regionFetchTimeout)
	defer cancel()
	res, err := wsconn.Get(ctx, endpoint, *r.token.Load(), maxRegionsBody, wsconn.Options{
		Dial: r.opts.Dial, TLSConfig: r.opts.TLSConfig, HandshakeTimeout: regionFetchTimeout,
	})
	if err != nil {
		return nil, 0, err
	}
	switch res.StatusCode {
	case 200:
	case 401, 403:
		return nil, 0, fmt.Errorf("region list: HTTP %d: %w", res.StatusCode, errRegionListRefused)
	default:
		return nil, 0, fmt.Errorf("region list: HTTP %d", res.StatusCode)
	}
	urls, err := parseRegions(res.Body, isSecureURL(r.url))
	if err != nil {
		return nil, 0, err
	}
	maxAge, ok := parseMaxAge(res.Header("Cache-Control"))
	if !ok {
		maxAge = regionDefaultMaxAge
	}
	return urls, maxAge, nil
}

// noteLeaveRegions keeps the region list a LeaveRequest reports (LiveKit
// Cloud sends one when it asks the client to reconnect elsewhere).
func (r *Room) noteLeaveRegions(l *lkpb.LeaveRequest) {
	if urls := regionsFromLeave(l, isSecureURL(r.url)); r.cloud && len(urls) > 0 {
		r.regions.set(urls, regionDefaultMaxAge, time.Now())
	}
}

// isCloudURL reports whether a Connect URL is LiveKit Cloud's.
func (r *Room) isCloudURL(serverURL string) bool {
	u, err := url.Parse(strings.TrimSpace(serverURL))
	if err != nil {
		return false
	}
	if r.opts.cloudHost != nil {
		return r.opts.cloudHost(u.Hostname())
	}
	return isCloudHost(u.Hostname())
}

// redactURL is a URL for the log: scheme and host only.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host
}
