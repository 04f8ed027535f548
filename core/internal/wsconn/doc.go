// Package wsconn is the small WebSocket client (RFC 6455, client side only) that the
// signalling connection runs on.
//
// It exists so that the shared library does not link net/http (and with it HTTP/2, mime,
// compress/gzip of the transport, IDNA tables, …) only to perform one HTTP/1.1 Upgrade: Dial
// opens TCP (through Options.Dial when set, through an HTTP CONNECT or SOCKS5 proxy taken
// from the environment like net/http's ProxyFromEnvironment), does TLS for wss://, sends the
// Upgrade request and checks the server's Sec-WebSocket-Accept. A refused upgrade is a
// *StatusError carrying the HTTP status and the beginning of the body.
//
// Get sends one plain HTTP/1.1 GET over the same transport (dial, proxy, TLS) and reads a
// bounded response: the room uses it for LiveKit Cloud's list of regions, the one other HTTP
// request a client makes.
//
// A Conn reads whole messages (fragments reassembled, at most Options.MaxMessageSize bytes),
// answers pings with pongs and a close frame with a close frame, and writes each message as
// one masked frame. No extension (permessage-deflate) and no subprotocol is negotiated, and
// text messages are not checked for valid UTF-8 (the signalling only uses binary ones).
//
// Every wait is bounded: the handshake by the dial context and Options.HandshakeTimeout,
// reads and writes by their context (a context that ends during a read or a write leaves
// the frame stream in an unknown state, so the connection is then closed). The response
// headers of the upgrade (and of a proxy's CONNECT) are capped at MaxHeaderBytes, the body of
// a refused upgrade at MaxErrorBody.
//
// Nothing here sees the URL's query in an error text: the request target (which carries the
// access token) is written to the connection and never formatted into an error.
package wsconn
