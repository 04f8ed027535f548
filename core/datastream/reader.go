package datastream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/internal/deflate"
)

// reader decodes one incoming stream on the reading goroutine: it pops wire
// pieces from the core, inflates them for compressed streams, enforces the
// payload cap and total_length, and for text re-frames the output on UTF-8
// boundaries and validates it strictly (docs/protocol.md, Data streams).
type reader struct {
	core       *streamCore
	streamID   string
	compressed bool
	text       bool
	total      *uint64
	max        uint64
	pieceSize  int
	pool       *flatePool

	mu        sync.Mutex // serializes reads; guards everything below
	src       coreSource
	fr        *deflate.Decoder
	scratch   []byte // reused inflate output for readers that copy it out at once
	carry     []byte
	leftover  []byte // io.Reader remainder
	done      bool
	err       error
	delivered atomic.Uint64

	onProgress atomic.Pointer[func(received uint64, total uint64)]
}

func newReader(core *streamCore, id string, compressed, text bool, total *uint64, l Limits, pool *flatePool) *reader {
	r := &reader{core: core, streamID: id, compressed: compressed, text: text, total: total,
		max: l.MaxPayloadBytes, pieceSize: l.ReadPieceSize, pool: pool}
	r.src.core = core
	return r
}

func (r *reader) failLocked(err error) error {
	if r.err == nil {
		r.err = err
		var se *StreamError
		if !errors.As(err, &se) || se.Reason != ReasonCancelled {
			r.core.abandon(err)
		}
		r.releaseInflater()
	}
	return r.err
}

// next returns the next decoded delta, io.EOF at the normal end, or the
// stream's error. Deltas are never empty.
func (r *reader) next(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nextLocked(ctx, false)
}

// nextInto decodes the next delta and hands it to consume, which must copy
// it before returning (the slice may be reused by the following call).
func (r *reader) nextInto(ctx context.Context, consume func([]byte)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.nextLocked(ctx, true)
	if err == nil {
		consume(b)
	}
	return err
}

// nextLocked is next with r.mu held. With reuse, the inflated output of a
// compressed stream is written to a buffer owned by the reader, so the
// returned slice is only valid until the next call; callers that copy it
// out at once (Read, ReadAll) avoid allocating a piece per call.
func (r *reader) nextLocked(ctx context.Context, reuse bool) ([]byte, error) {
	for {
		if r.err != nil {
			return nil, r.err
		}
		if r.done {
			return nil, io.EOF
		}
		out, eof, err := r.pull(ctx, reuse)
		if err != nil {
			return nil, r.failLocked(err)
		}
		if len(out) > 0 {
			d := r.delivered.Add(uint64(len(out)))
			if d > r.max {
				return nil, r.failLocked(newErr(ReasonPayloadTooLarge, r.streamID,
					fmt.Sprintf("data stream %s exceeds the maximum payload size of %d bytes", r.streamID, r.max), nil))
			}
			if r.total != nil && *r.total > 0 && d > *r.total {
				return nil, r.failLocked(newErr(ReasonLengthExceeded, r.streamID,
					fmt.Sprintf("Extra chunk(s) received - expected %d bytes of data but received %d for data stream %s", *r.total, d, r.streamID), nil))
			}
			if r.text {
				if out, err = r.reframe(out); err != nil {
					return nil, r.failLocked(err)
				}
			}
			if f := r.onProgress.Load(); f != nil {
				var t uint64
				if r.total != nil {
					t = *r.total
				}
				(*f)(d, t)
			}
		}
		if eof {
			if len(r.carry) > 0 {
				return nil, r.failLocked(newErr(ReasonDecodeFailed, r.streamID,
					"data stream "+r.streamID+" ends inside a UTF-8 sequence", nil))
			}
			d := r.delivered.Load()
			if r.total != nil && *r.total > 0 && d < *r.total {
				return nil, r.failLocked(newErr(ReasonIncomplete, r.streamID,
					fmt.Sprintf("Not enough chunk(s) received - expected %d bytes of data but received %d for data stream %s", *r.total, d, r.streamID), nil))
			}
			r.done = true
			r.releaseInflater()
		}
		if len(out) > 0 {
			return out, nil
		}
		if eof {
			return nil, io.EOF
		}
	}
}

// pull returns the next raw output (decompressed if needed) and whether the
// stream ended normally after it. With reuse, decompressed output goes to
// r.scratch (see nextLocked).
func (r *reader) pull(ctx context.Context, reuse bool) ([]byte, bool, error) {
	if !r.compressed {
		p, err := r.core.pop(ctx)
		if err == io.EOF {
			return nil, true, nil
		}
		return p, false, err
	}
	r.src.ctx = ctx
	if r.fr == nil {
		r.fr = r.pool.reader(&r.src)
	}
	size := r.pieceSize
	if r.total != nil {
		// Known total: a buffer one byte larger than what is left still
		// detects excess output without allocating a full piece.
		if left := *r.total - min(*r.total, r.delivered.Load()) + 1; left < uint64(size) {
			size = int(max(left, 512))
		}
	}
	var buf []byte
	if reuse {
		if cap(r.scratch) < size {
			r.scratch = make([]byte, max(size, r.pieceSize))
		}
		buf = r.scratch[:size]
	} else {
		buf = make([]byte, size)
	}
	n, err := io.ReadAtLeast(r.fr, buf, 1)
	if errors.Is(err, io.EOF) && n == 0 {
		err = io.EOF
	}
	switch {
	case err == nil:
		return buf[:n], false, nil
	case err == io.EOF:
		// End of the DEFLATE stream: the wire stream must end too, with
		// nothing but empty pieces after the final block.
		if r.fr.Trailing() {
			return nil, false, newErr(ReasonDecodeFailed, r.streamID, "trailing data after the end of the compressed data stream "+r.streamID, nil)
		}
		for {
			p, perr := r.core.pop(ctx)
			if perr == io.EOF {
				return buf[:n], true, nil
			}
			if perr != nil {
				return nil, false, perr
			}
			if len(p) > 0 {
				return nil, false, newErr(ReasonDecodeFailed, r.streamID, "trailing data after the end of the compressed data stream "+r.streamID, nil)
			}
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		d := r.delivered.Load() + uint64(n)
		if r.total != nil && *r.total > 0 && d < *r.total {
			return nil, false, newErr(ReasonIncomplete, r.streamID,
				fmt.Sprintf("Not enough chunk(s) received - expected %d bytes of data but received %d for data stream %s", *r.total, d, r.streamID), nil)
		}
		return nil, false, newErr(ReasonDecodeFailed, r.streamID, "compressed data stream "+r.streamID+" is truncated", nil)
	default:
		var se *StreamError
		if errors.As(err, &se) {
			return nil, false, err
		}
		return nil, false, newErr(ReasonDecodeFailed, r.streamID, "cannot inflate data stream "+r.streamID, err)
	}
}

// releaseInflater returns the decompressor to the pool once the stream is
// over (the reader never touches it again: done or err is set).
func (r *reader) releaseInflater() {
	if r.fr != nil {
		r.pool.putReader(r.fr)
		r.fr = nil
	}
}

// reframe holds back an incomplete trailing UTF-8 sequence and validates the
// rest.
func (r *reader) reframe(out []byte) ([]byte, error) {
	if len(r.carry) > 0 {
		joined := make([]byte, 0, len(r.carry)+len(out))
		joined = append(append(joined, r.carry...), out...)
		out, r.carry = joined, nil
	}
	if k := incompleteUTF8Tail(out); k > 0 {
		r.carry = append([]byte(nil), out[len(out)-k:]...)
		out = out[:len(out)-k]
	}
	if !utf8.Valid(out) {
		return nil, newErr(ReasonDecodeFailed, r.streamID, "data stream "+r.streamID+" is not valid UTF-8", nil)
	}
	return out, nil
}

func (r *reader) read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.leftover) == 0 {
		d, err := r.nextLocked(context.Background(), true)
		if err != nil {
			return 0, err
		}
		r.leftover = d
	}
	n := copy(p, r.leftover)
	r.leftover = r.leftover[n:]
	return n, nil
}

func (r *reader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && !r.done {
		err := newErr(ReasonCancelled, r.streamID, "reader of data stream "+r.streamID+" closed", nil)
		r.err = err
		r.core.abandon(err)
		r.releaseInflater()
	}
	r.leftover, r.scratch = nil, nil
}

// TextStreamReader reads one incoming text stream. Reads may happen on any
// goroutine, one at a time; the reader stays valid after the handler that
// received it returns. A reader that is neither read to the end nor closed
// holds at most Limits.MaxBufferedBytes of wire data before the stream is
// failed with ErrBufferOverflow.
type TextStreamReader struct {
	r    *reader
	info TextStreamInfo
}

// Info returns the stream's description. Attributes include the trailer's
// once the stream has finished.
func (t *TextStreamReader) Info() TextStreamInfo {
	i := t.info.clone()
	i.Attributes = t.r.core.attributes()
	return i
}

// Next returns the next piece of text (a delta, never the accumulated
// text), io.EOF after the normal end, or the stream's error (a
// *StreamError). Cancelling ctx abandons the stream: the reader then fails
// with ErrCancelled and further data is discarded.
func (t *TextStreamReader) Next(ctx context.Context) (string, error) {
	b, err := t.r.next(ctx)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ReadAll reads the rest of the stream and returns it.
func (t *TextStreamReader) ReadAll(ctx context.Context) (string, error) {
	var sb strings.Builder
	if t.info.Size != nil {
		// The sender declares the size: bound what is reserved before any data arrives.
		sb.Grow(int(min(*t.info.Size, maxReadAllPrealloc)))
	}
	for {
		err := t.r.nextInto(ctx, func(b []byte) { sb.Write(b) })
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// Read implements io.Reader over the UTF-8 text. It blocks until data
// arrives, the stream ends (io.EOF) or fails, or the manager closes.
func (t *TextStreamReader) Read(p []byte) (int, error) { return t.r.read(p) }

// Close abandons the stream: queued data is dropped and later packets are
// ignored. Closing a finished reader does nothing.
func (t *TextStreamReader) Close() error { t.r.close(); return nil }

// BytesReceived reports the decoded bytes delivered so far.
func (t *TextStreamReader) BytesReceived() uint64 { return t.r.delivered.Load() }

// OnProgress installs f, called on the reading goroutine after every
// delivered piece with the decoded bytes so far and the announced total (0 if
// unknown).
func (t *TextStreamReader) OnProgress(f func(received, total uint64)) { t.r.onProgress.Store(&f) }

// ByteStreamReader reads one incoming byte stream; see TextStreamReader for
// the concurrency and memory rules.
type ByteStreamReader struct {
	r    *reader
	info ByteStreamInfo
}

// Info returns the stream's description. Attributes include the trailer's
// once the stream has finished.
func (b *ByteStreamReader) Info() ByteStreamInfo {
	i := b.info.clone()
	i.Attributes = b.r.core.attributes()
	return i
}

// Next returns the next piece of payload, io.EOF after the normal end, or
// the stream's error. The returned slice belongs to the caller. Cancelling
// ctx abandons the stream.
func (b *ByteStreamReader) Next(ctx context.Context) ([]byte, error) { return b.r.next(ctx) }

// ReadAll reads the rest of the stream into one slice.
func (b *ByteStreamReader) ReadAll(ctx context.Context) ([]byte, error) {
	var out []byte
	if b.info.Size != nil {
		out = make([]byte, 0, int(min(*b.info.Size, maxReadAllPrealloc)))
	}
	for {
		err := b.r.nextInto(ctx, func(p []byte) { out = append(out, p...) })
		if err == io.EOF {
			if out == nil {
				out = []byte{}
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Read implements io.Reader. It blocks until data arrives, the stream ends
// (io.EOF) or fails, or the manager closes.
func (b *ByteStreamReader) Read(p []byte) (int, error) { return b.r.read(p) }

// Close abandons the stream: queued data is dropped and later packets are
// ignored.
func (b *ByteStreamReader) Close() error { b.r.close(); return nil }

// BytesReceived reports the decoded bytes delivered so far.
func (b *ByteStreamReader) BytesReceived() uint64 { return b.r.delivered.Load() }

// OnProgress installs f, called on the reading goroutine after every
// delivered piece with the decoded bytes so far and the announced total (0 if
// unknown).
func (b *ByteStreamReader) OnProgress(f func(received, total uint64)) { b.r.onProgress.Store(&f) }

// All iterates over the text deltas until the end of the stream; a failure is
// yielded once as the last element (io.EOF is not).
func (t *TextStreamReader) All(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for {
			s, err := t.Next(ctx)
			if err == io.EOF {
				return
			}
			if !yield(s, err) || err != nil {
				return
			}
		}
	}
}

// All iterates over the payload pieces until the end of the stream; a
// failure is yielded once as the last element (io.EOF is not).
func (b *ByteStreamReader) All(ctx context.Context) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for {
			p, err := b.Next(ctx)
			if err == io.EOF {
				return
			}
			if !yield(p, err) || err != nil {
				return
			}
		}
	}
}
