package room

import (
	"context"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Subscription permissions (docs/protocol.md, Subscription permissions): a
// publisher tells the server who may subscribe to its tracks with
// SignalRequest.subscription_permission. The server keeps the latest one for
// the session, refuses subscriptions it does not allow and takes away the
// ones a new permission no longer allows (the subscriber sees
// DataTrackSubscriptionPermissionChanged), and forgets it with the session:
// after a full reconnect the room sends it again, before its tracks are
// published again, then once more for each republished track it names, with
// the track's new SID.

// TrackPermission allows one participant to subscribe to the local
// participant's tracks (SetTrackSubscriptionPermissions).
type TrackPermission struct {
	// Identity is the participant allowed (required).
	Identity string
	// AllTracks allows every track, also those published later; when false
	// only TrackSIDs are allowed.
	AllTracks bool
	// TrackSIDs are the tracks allowed when AllTracks is false
	// (LocalDataTrack.Info().SID); none allows nothing.
	TrackSIDs []string
}

// SetTrackSubscriptionPermissions sets who may subscribe to the local
// participant's data tracks: everyone when allParticipants is true (what the
// server assumes until the first call; perms are then ignored), otherwise
// only the participants in perms, each to all the tracks or to the ones it
// lists. Each call replaces the previous one. The server applies it at once:
// a subscription it no longer allows stops receiving (its subscriber gets
// DataTrackSubscriptionPermissionChanged) and resumes when allowed again;
// recorders are exempt. The permissions last for the room: after a full
// reconnect they are sent again, with the SIDs of the republished tracks
// replaced by their new SIDs. It returns once the request is written (or
// held while the room reconnects); the server sends no answer. Errors:
// ErrInvalidArgument (an empty identity, an identity or SID that is not
// UTF-8), ErrSignalRequestTooLarge, ErrDisconnected, ctx's error.
func (lp *LocalParticipant) SetTrackSubscriptionPermissions(ctx context.Context, allParticipants bool, perms []TrackPermission) error {
	sp, err := buildSubscriptionPermission(allParticipants, perms)
	if err != nil {
		return err
	}
	r := lp.room
	var sendErr error
	if err := r.runOnLoop(ctx, func() {
		r.subPerm = sp
		sendErr = r.sendSubscriptionPermission(ctx)
	}); err != nil {
		return err
	}
	return sendErr
}

// buildSubscriptionPermission checks the arguments and builds the request's
// message (a copy: the caller's slices are not kept).
func buildSubscriptionPermission(all bool, perms []TrackPermission) (*lkpb.SubscriptionPermission, error) {
	sp := &lkpb.SubscriptionPermission{AllParticipants: all}
	if !all {
		for i, p := range perms {
			switch {
			case p.Identity == "":
				return nil, fmt.Errorf("%w: permission %d has no identity", ErrInvalidArgument, i)
			case !utf8.ValidString(p.Identity):
				return nil, fmt.Errorf("%w: permission %d: identity is not UTF-8", ErrInvalidArgument, i)
			}
			tp := &lkpb.TrackPermission{ParticipantIdentity: p.Identity, AllTracks: p.AllTracks}
			if !p.AllTracks {
				for _, sid := range p.TrackSIDs {
					if !utf8.ValidString(sid) {
						return nil, fmt.Errorf("%w: permission %d: a track SID is not UTF-8", ErrInvalidArgument, i)
					}
				}
				tp.TrackSids = slices.Clone(p.TrackSIDs)
			}
			sp.TrackPermissions = append(sp.TrackPermissions, tp)
		}
	}
	if err := signal.CheckRequestSize(subscriptionPermissionRequest(sp)); err != nil {
		return nil, err
	}
	return sp, nil
}

func subscriptionPermissionRequest(sp *lkpb.SubscriptionPermission) *lkpb.SignalRequest {
	return &lkpb.SignalRequest{Message: &lkpb.SignalRequest_SubscriptionPermission{SubscriptionPermission: sp}}
}

// sendSubscriptionPermission sends the current permissions (loop; none set:
// nothing to send).
func (r *Room) sendSubscriptionPermission(ctx context.Context) error {
	if r.subPerm == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, signal.DefaultWriteTimeout)
	defer cancel()
	return r.sendSignalLoop(ctx, subscriptionPermissionRequest(r.subPerm))
}

// resendSubscriptionPermission sends the permissions again (loop): after a
// full reconnect, before the tracks are republished, and when a republished
// track they name got its new SID.
func (r *Room) resendSubscriptionPermission() {
	if err := r.sendSubscriptionPermission(context.Background()); err != nil {
		r.log.Warn("room: sending the subscription permissions again failed", "err", err)
	}
}

// trackSidChanged replaces oldSid by newSid in the permissions of a
// republished local track and sends them when they named it (loop).
func (r *Room) trackSidChanged(oldSid, newSid string) {
	if r.subPerm == nil {
		return
	}
	changed := false
	for _, tp := range r.subPerm.GetTrackPermissions() {
		for i, sid := range tp.TrackSids {
			if sid == oldSid {
				tp.TrackSids[i] = newSid
				changed = true
			}
		}
	}
	if changed {
		r.resendSubscriptionPermission()
	}
}

// DataTrackSubscriptionPermissionChanged reports that the publisher of a
// subscribed data track revoked (Allowed false) or granted again (Allowed
// true) this participant's permission to receive it. A revoked subscription
// stays open but receives nothing until it is allowed again; the server then
// resumes it by itself. (A subscription refused before it was established
// fails instead, with datatrack.ErrSubscribeNotAllowed.) After a revoked
// subscription was closed, a later subscription the server allows is
// reported with Allowed true too, before it is established; the track's
// SubscriptionRevoked is always the last event's answer.
type DataTrackSubscriptionPermissionChanged struct {
	// Track is the subscribed remote track.
	Track *RemoteDataTrack
	// Allowed tells whether frames may flow now.
	Allowed bool
}

func (DataTrackSubscriptionPermissionChanged) isEvent() {}
