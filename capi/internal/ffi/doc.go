// Package ffi is the plain-Go core of lkcore's C ABI: the per-client handle table, the event
// queue and its single dispatcher, asynchronous operations, request decoding and routing, and
// log forwarding. The cgo package (capi) is a thin shell over it, so everything here is
// testable with `go test -race` without cgo.
//
// A Client is fully independent of every other Client in the process: its own handles, event
// sequence, pending operations and log level. This package has no package-level mutable
// state.
package ffi
