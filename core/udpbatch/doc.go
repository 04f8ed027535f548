// Package udpbatch sends and receives a UDP socket's datagrams in batches:
// Wrap returns the socket with its WriteTo paths queued and handed to the
// kernel as one sendmsg per run of same-sized datagrams to one destination
// (Linux UDP generic segmentation offload), which the kernel cuts back into
// exactly the datagrams written, in order; and with its reads served from
// receives the kernel may coalesce (UDP generic receive offload), one
// datagram per read, as they were sent. Peers see no difference.
//
// It serves the ICE sockets of the client engine (core/internal/engine) and
// the socket of the test SFU (tests/devsfu), which is why it is not internal;
// it has no other lkcore dependency. docs/performance.md has the
// measurements.
package udpbatch
