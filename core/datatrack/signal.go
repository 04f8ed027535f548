package datatrack

import "github.com/lkcore/lkcore/core/lkpb"

// SendRequest asks the room layer to send Request on the signalling connection. Both managers
// emit it.
type SendRequest struct {
	// Request is the message to send.
	Request *lkpb.SignalRequest
}

func (SendRequest) localOutput()  {}
func (SendRequest) remoteOutput() {}

func publishRequest(handle uint16, name string, encrypted bool, opts *PublishOptions) SendRequest {
	enc := lkpb.Encryption_NONE
	if encrypted {
		enc = lkpb.Encryption_GCM
	}
	return SendRequest{Request: &lkpb.SignalRequest{Message: &lkpb.SignalRequest_PublishDataTrackRequest{
		PublishDataTrackRequest: &lkpb.PublishDataTrackRequest{
			PubHandle:     uint32(handle),
			Name:          name,
			Encryption:    enc,
			FrameEncoding: cloneMsg(opts.FrameEncoding),
			Schema:        cloneMsg(opts.Schema),
		},
	}}}
}

func unpublishRequest(handle uint16) SendRequest {
	return SendRequest{Request: &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UnpublishDataTrackRequest{
		UnpublishDataTrackRequest: &lkpb.UnpublishDataTrackRequest{PubHandle: uint32(handle)},
	}}}
}

// subscriptionRequest builds update_data_subscription; options are left unset like both SDKs.
func subscriptionRequest(sid string, subscribe bool) SendRequest {
	return SendRequest{Request: &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateDataSubscription{
		UpdateDataSubscription: &lkpb.UpdateDataSubscription{
			Updates: []*lkpb.UpdateDataSubscription_Update{{TrackSid: sid, Subscribe: subscribe}},
		},
	}}}
}
