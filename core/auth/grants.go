package auth

// VideoGrant is the LiveKit room grant carried in the "video" claim of an
// access token. JSON names match livekit/protocol auth.VideoGrant.
//
// Booleans whose server-side default is not false are pointers: nil means
// "absent", and the effective value is computed by the Effective* methods
// exactly as livekit-server does (its auth package: ClaimGrants, VideoGrant).
type VideoGrant struct {
	RoomCreate bool   `json:"roomCreate,omitempty"`
	RoomList   bool   `json:"roomList,omitempty"`
	RoomRecord bool   `json:"roomRecord,omitempty"`
	RoomAdmin  bool   `json:"roomAdmin,omitempty"`
	RoomJoin   bool   `json:"roomJoin,omitempty"`
	Room       string `json:"room,omitempty"`

	CanPublish           *bool    `json:"canPublish,omitempty"`
	CanSubscribe         *bool    `json:"canSubscribe,omitempty"`
	CanPublishData       *bool    `json:"canPublishData,omitempty"`
	CanPublishSources    []string `json:"canPublishSources,omitempty"`
	CanUpdateOwnMetadata *bool    `json:"canUpdateOwnMetadata,omitempty"`
	CanSubscribeMetrics  *bool    `json:"canSubscribeMetrics,omitempty"`

	IngressAdmin          bool   `json:"ingressAdmin,omitempty"`
	Hidden                bool   `json:"hidden,omitempty"`
	Recorder              bool   `json:"recorder,omitempty"`
	Agent                 bool   `json:"agent,omitempty"`
	CanManageAgentSession *bool  `json:"canManageAgentSession,omitempty"`
	DestinationRoom       string `json:"destinationRoom,omitempty"`
}

// Bool returns a pointer to b, for the optional grant fields.
func Bool(b bool) *bool { return &b }

// EffectiveCanPublish reports canPublish (default true).
func (g *VideoGrant) EffectiveCanPublish() bool {
	if g == nil || g.CanPublish == nil {
		return true
	}
	return *g.CanPublish
}

// EffectiveCanSubscribe reports canSubscribe (default true).
func (g *VideoGrant) EffectiveCanSubscribe() bool {
	if g == nil || g.CanSubscribe == nil {
		return true
	}
	return *g.CanSubscribe
}

// EffectiveCanPublishData reports canPublishData (default: the effective
// canPublish).
func (g *VideoGrant) EffectiveCanPublishData() bool {
	if g == nil || g.CanPublishData == nil {
		return g.EffectiveCanPublish()
	}
	return *g.CanPublishData
}

// EffectiveCanUpdateOwnMetadata reports canUpdateOwnMetadata (default false).
func (g *VideoGrant) EffectiveCanUpdateOwnMetadata() bool {
	if g == nil || g.CanUpdateOwnMetadata == nil {
		return false
	}
	return *g.CanUpdateOwnMetadata
}

// Clone returns a deep copy of g (nil for nil).
func (g *VideoGrant) Clone() *VideoGrant {
	if g == nil {
		return nil
	}
	c := *g
	cp := func(p *bool) *bool {
		if p == nil {
			return nil
		}
		v := *p
		return &v
	}
	c.CanPublish = cp(g.CanPublish)
	c.CanSubscribe = cp(g.CanSubscribe)
	c.CanPublishData = cp(g.CanPublishData)
	c.CanUpdateOwnMetadata = cp(g.CanUpdateOwnMetadata)
	c.CanSubscribeMetrics = cp(g.CanSubscribeMetrics)
	c.CanManageAgentSession = cp(g.CanManageAgentSession)
	if g.CanPublishSources != nil {
		c.CanPublishSources = append([]string(nil), g.CanPublishSources...)
	}
	return &c
}
