package room

import "github.com/lkcore/lkcore/core/lkpb"

// WithLegacyDataProtocol returns opts for a client that advertises
// clientProtocol and caps instead of the real ones and sends as such a
// client would (peers are treated as having at most clientProtocol): 0
// emulates a pre-data-stream SDK (RPC v1 packets, v1 chunked streams), 2
// without caps a runtime without deflate-raw.
func WithLegacyDataProtocol(opts Options, clientProtocol int32, caps ...lkpb.ClientInfo_Capability) Options {
	opts.legacyData = &legacyDataProtocol{ClientProtocol: clientProtocol, Capabilities: caps}
	return opts
}
