package datastream

import (
	"math"
	"testing"
)

// TestReadPieceSizeCap: a host's ReadPieceSize sizes the buffer of every Next on a compressed
// stream, so it is clamped to MaxReadPieceSize (defaults apply to zero and negative values).
func TestReadPieceSizeCap(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{0, 64 << 10}, {-1, 64 << 10}, {math.MaxInt, MaxReadPieceSize}, {MaxReadPieceSize, MaxReadPieceSize}, {512, 512},
	} {
		if got := (Limits{ReadPieceSize: c.in}).withDefaults().ReadPieceSize; got != c.want {
			t.Errorf("ReadPieceSize %d → %d, want %d", c.in, got, c.want)
		}
	}
}
