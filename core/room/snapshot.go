package room

// RequestSnapshot asks for a SnapshotTaken event: the room's state taken by
// the loop that owns it, queued at that point of the event stream (see
// SnapshotTaken). It returns at once; the event follows. While a SnapshotTaken
// is queued and not yet read, it answers new requests too (it is just as
// consistent), so each request is followed by at least one SnapshotTaken that
// the consumer has not read yet (unless the room ends first: Disconnected is
// then the last event), and a host asking faster than it reads never grows
// the queue. Unlike reading Info, RemoteParticipants and the data tracks
// one by one while events are still queued, the snapshot is neither ahead of
// nor behind the events around it.
//
// Errors: ErrDisconnected before Connect succeeded and once the room ended.
func (r *Room) RequestSnapshot() error {
	if !r.everConnected() {
		return errNotConnected
	}
	select {
	case <-r.closing:
		return ErrDisconnected
	default:
	}
	select {
	case r.snapshotReq <- struct{}{}:
	default: // one is pending: it answers this request too
	}
	return nil
}

// stateSnapshot is the room's state for SnapshotTaken (loop): Connect's
// snapshot without the auto-subscriptions, which were handed over already.
func (r *Room) stateSnapshot() Snapshot {
	s := r.takeSnapshot()
	for i := range s.RemoteDataTracks {
		s.RemoteDataTracks[i].Subscription = nil
	}
	return s
}
