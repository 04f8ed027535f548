// Package signal is the LiveKit WebSocket signalling client used by core/room.
//
// It builds the v1 join URL (`<url>/rtc/v1?access_token=…&join_request=…`, where
// join_request is a padded base64url WrappedJoinRequest, gzip-compressed),
// dials the server, classifies failed upgrades into typed errors, reads the
// first response (join, or reconnect on a resume), and then runs exactly two
// goroutines per connection: a read loop that hands every SignalResponse to
// the owner in order, and a keepalive loop that sends ping/ping_req every
// ping_interval and declares the connection dead after ping_timeout of
// silence. Every frame is a binary protobuf message; text frames are never
// sent (they would switch livekit-server to JSON).
//
// The package is transport only: it holds no room state. core/room drives
// joins and resumes (DialOptions.Resume, JoinRequest.reconnect and
// participant_sid) and reconnection on top of it; the join_request wire
// format is core/joinreq.
//
// Tokens and join requests never appear in logs or error strings.
package signal
