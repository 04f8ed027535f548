package engine

// ResendEntry is one reliable DataPacket as it was put on the wire.
type ResendEntry struct {
	Sequence uint32
	Data     []byte // the exact serialised bytes (replayed unchanged)
}

// ResendBuffer keeps reliable packets that may not have reached the server, for
// replay after a resume (docs/protocol.md, Data packets). It is a FIFO trimmed
// against the channel's bufferedAmount: pion only decreases bufferedAmount when
// the peer's SCTP stack acknowledges bytes, so every packet older than the last
// bufferedAmount bytes has been received by the SFU. Not safe for concurrent
// use; the engine guards it with its reliable send lock.
type ResendBuffer struct {
	entries []ResendEntry
	head    int
	total   int // bytes in entries[head:]
}

// Push appends a packet that was just handed to the channel.
func (b *ResendBuffer) Push(seq uint32, data []byte) {
	b.entries = append(b.entries, ResendEntry{Sequence: seq, Data: data})
	b.total += len(data)
}

// Align drops packets from the head while the remaining packets still account
// for at least bufferedAmount bytes (JS DataPacketBuffer.alignBufferedAmount):
// what is left is the smallest suffix that can contain every unacknowledged byte.
func (b *ResendBuffer) Align(bufferedAmount uint64) {
	for b.head < len(b.entries) {
		first := len(b.entries[b.head].Data)
		if uint64(b.total-first) < bufferedAmount {
			break
		}
		b.pop()
	}
	b.compact()
}

// DropThrough removes every packet with sequence <= seq (the server's
// ReconnectResponse.last_message_seq after a resume).
func (b *ResendBuffer) DropThrough(seq uint32) {
	for b.head < len(b.entries) && b.entries[b.head].Sequence <= seq {
		b.pop()
	}
	b.compact()
}

// Entries returns the buffered packets in send order (the slice is a copy;
// the byte slices are shared and must not be modified).
func (b *ResendBuffer) Entries() []ResendEntry {
	return append([]ResendEntry(nil), b.entries[b.head:]...)
}

// Len is the number of buffered packets; Bytes their total size.
func (b *ResendBuffer) Len() int { return len(b.entries) - b.head }

// Bytes is the total size of the buffered packets.
func (b *ResendBuffer) Bytes() int { return b.total }

// Reset empties the buffer (full reconnect).
func (b *ResendBuffer) Reset() { *b = ResendBuffer{} }

func (b *ResendBuffer) pop() {
	b.total -= len(b.entries[b.head].Data)
	b.entries[b.head] = ResendEntry{}
	b.head++
}

func (b *ResendBuffer) compact() {
	if b.head == len(b.entries) {
		b.entries = b.entries[:0]
		b.head = 0
	} else if b.head > 64 && b.head*2 > len(b.entries) {
		n := copy(b.entries, b.entries[b.head:])
		clear(b.entries[n:])
		b.entries = b.entries[:n]
		b.head = 0
	}
}
