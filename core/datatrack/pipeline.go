package datatrack

import (
	"fmt"
	"time"
)

// FrameEncryptor encrypts whole frame payloads for an E2EE track
// (docs/protocol.md, Data-track E2EE). core/e2ee's Cryptor implements it. ciphertext must be
// plaintext length + 16 (AES-GCM tag appended) and iv unique per key; keyIndex is the sender's
// current key index.
type FrameEncryptor interface {
	EncryptFrame(plaintext []byte) (ciphertext []byte, keyIndex uint8, iv [12]byte, err error)
}

// FrameDecryptor decrypts a reassembled frame payload with the publisher's key at keyIndex
// (docs/protocol.md, Data-track E2EE). core/e2ee's Cryptor implements it.
type FrameDecryptor interface {
	DecryptFrame(publisherIdentity string, keyIndex uint8, iv [12]byte, ciphertext []byte) ([]byte, error)
}

// SendPipeline turns application frames into serialized packets for one published track:
// optional E2EE encryption of the whole payload, then packetization
// (docs/protocol.md, Packetizer). It is not safe for concurrent use; LocalTrack serialises it.
type SendPipeline struct {
	packetizer *Packetizer
	encryptor  FrameEncryptor
}

// NewSendPipeline returns a pipeline writing packets with handle. enc is nil for plain tracks;
// mtu 0 means TransportMTU.
func NewSendPipeline(handle uint16, mtu int, clock Clock, enc FrameEncryptor) (*SendPipeline, error) {
	p, err := NewPacketizer(handle, mtu, clock)
	if err != nil {
		return nil, err
	}
	return &SendPipeline{packetizer: p, encryptor: enc}, nil
}

// Encrypted reports whether frames are encrypted.
func (s *SendPipeline) Encrypted() bool { return s.encryptor != nil }

// Packetizer gives access to the underlying packetizer (counters, MaxPayload).
func (s *SendPipeline) Packetizer() *Packetizer { return s.packetizer }

// EstimateBytes returns the serialized size the frame will have (used for queue admission
// before any counter is consumed).
func (s *SendPipeline) EstimateBytes(f *Frame) int {
	ext := s.extensionsFor(f)
	n := len(f.Payload)
	if s.encryptor != nil {
		n += E2EETagSize
	}
	per := s.packetizer.mtu - ext.HeaderSize()
	packets := (n + per - 1) / per
	return n + packets*ext.HeaderSize()
}

// CheckSize returns ErrFrameTooLarge if f would need more than MaxPacketsPerFrame packets
// (counting the E2EE tag for encrypted tracks).
func (s *SendPipeline) CheckSize(f *Frame) error {
	ext := s.extensionsFor(f)
	limit := s.packetizer.MaxPayload(&ext)
	if s.encryptor != nil {
		limit -= E2EETagSize
	}
	if len(f.Payload) > limit {
		return ErrFrameTooLarge
	}
	return nil
}

func (s *SendPipeline) extensionsFor(f *Frame) Extensions {
	ext := Extensions{HasE2EE: s.encryptor != nil}
	if f.HasUserTimestamp {
		ext.HasUserTimestamp, ext.UserTimestamp = true, f.UserTimestamp
	}
	return ext
}

// Encode encrypts (if E2EE) and packetizes f into dst. Errors: ErrFrameTooLarge (checked on the
// plaintext size before encrypting, nothing consumed), ErrEncryptionFailed wrapping the
// encryptor's error (nothing consumed). An empty plain frame yields zero packets
// (docs/protocol.md, Packetizer); an empty encrypted frame yields one 16-byte-tag packet.
func (s *SendPipeline) Encode(dst *PacketizedFrame, f Frame, now time.Time) error {
	if err := s.CheckSize(&f); err != nil {
		return err
	}
	ext := s.extensionsFor(&f)
	payload := f.Payload
	if s.encryptor != nil {
		ct, ki, iv, err := s.encryptor.EncryptFrame(payload)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrEncryptionFailed, err)
		}
		ext.E2EE = E2EEExtension{KeyIndex: ki, IV: iv}
		payload = ct
	}
	return s.packetizer.Packetize(dst, payload, ext, now)
}

// ReceiveResult is the outcome of pushing one packet into a ReceivePipeline: at most one
// decrypted frame and at most two drops (an eviction plus a failed frame).
type ReceiveResult struct {
	// Frame is valid when HasFrame.
	Frame Frame
	// HasFrame reports a frame ready for the subscribers.
	HasFrame bool
	drops    [2]Drop
	nDrops   int
}

// Drops returns the drops caused by this packet.
func (r *ReceiveResult) Drops() []Drop { return r.drops[:r.nDrops] }

func (r *ReceiveResult) addDrop(d Drop) {
	if r.nDrops < len(r.drops) {
		r.drops[r.nDrops] = d
		r.nDrops++
	}
}

// ReceivePipeline turns packets of one subscribed track into frames: depacketize, then decrypt
// for E2EE tracks (docs/protocol.md, Depacketizer). A frame that cannot be decrypted is dropped
// and reported, never delivered as ciphertext. Not safe for concurrent use.
type ReceivePipeline struct {
	depacketizer *Depacketizer
	encrypted    bool
	decryptor    FrameDecryptor
	publisher    string
	numbers      frameGaps
}

// NewReceivePipeline returns a pipeline for a track of publisherIdentity. For an encrypted
// track without a decryptor it returns ErrE2EENoKeys (docs/protocol.md, Data-track E2EE: plain
// tracks always work, E2EE tracks without keys are a typed error, not ciphertext).
func NewReceivePipeline(publisherIdentity string, encrypted bool, dec FrameDecryptor, maxPartialFrames int) (*ReceivePipeline, error) {
	if encrypted && dec == nil {
		return nil, ErrE2EENoKeys
	}
	if !encrypted {
		dec = nil
	}
	return &ReceivePipeline{
		depacketizer: NewDepacketizer(maxPartialFrames),
		encrypted:    encrypted,
		decryptor:    dec,
		publisher:    publisherIdentity,
	}, nil
}

// Depacketizer gives access to the underlying depacketizer (e.g. SetMaxPartialFrames).
func (p *ReceivePipeline) Depacketizer() *Depacketizer { return p.depacketizer }

// Push feeds one decoded packet (the pipeline keeps its payload; see Depacketizer).
func (p *ReceivePipeline) Push(pkt *Packet) ReceiveResult {
	var r ReceiveResult
	dr := p.depacketizer.Push(pkt)
	if dr.HasDrop {
		r.addDrop(dr.Drop)
	}
	if !dr.HasFrame {
		return r
	}
	df := &dr.Frame
	payload := df.Payload
	if p.encrypted {
		if !df.Extensions.HasE2EE {
			r.addDrop(Drop{Reason: DropMissingE2EE, FrameNumber: df.FrameNumber, Err: ErrMissingE2EEExtension})
			return r
		}
		pt, err := p.decryptor.DecryptFrame(p.publisher, df.Extensions.E2EE.KeyIndex, df.Extensions.E2EE.IV, payload)
		if err != nil {
			r.addDrop(Drop{Reason: DropDecryptFailed, FrameNumber: df.FrameNumber, Err: fmt.Errorf("%w: %w", ErrDecryptionFailed, err)})
			return r
		}
		payload = pt
	}
	r.Frame = Frame{
		Payload:          payload,
		UserTimestamp:    df.Extensions.UserTimestamp,
		HasUserTimestamp: df.Extensions.HasUserTimestamp,
		FrameNumber:      df.FrameNumber,
		Timestamp:        df.Timestamp,
		DroppedBefore:    p.numbers.next(df.FrameNumber),
	}
	r.HasFrame = true
	return r
}

// RestartNumbering forgets the last frame number: the publisher's next frames may be numbered
// from anywhere (it republished the track after a full reconnect).
func (p *ReceivePipeline) RestartNumbering() { p.numbers = frameGaps{} }
