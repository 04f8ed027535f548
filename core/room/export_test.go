package room

import "google.golang.org/protobuf/proto"

// UserPacketSize is the serialised size of the packet PublishData sends for
// a payload of n bytes with the given options and sequence number.
func UserPacketSize(identity string, n int, opts DataPublishOptions, seq uint32) int {
	pkt := buildUserPacket(identity, make([]byte, n), opts)
	pkt.Sequence = seq
	return proto.Size(pkt)
}

// DataBacklog returns how many DataReceived events wait in r's event queue
// and how many deliveries are blocked waiting for space in it.
func DataBacklog(r *Room) (pending, blocked int) { return r.events.dataBacklog() }

// CurrentToken returns the token r would join with now: the application's, or the
// newest the server sent (refresh_token, room_moved).
func CurrentToken(r *Room) string { return *r.token.Load() }

// WithCloudHosts returns opts with cloud deciding which hosts are LiveKit
// Cloud's (have regions to fail over to) instead of their names.
func WithCloudHosts(opts Options, cloud func(host string) bool) Options {
	opts.cloudHost = cloud
	return opts
}
