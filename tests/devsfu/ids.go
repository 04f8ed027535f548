package devsfu

import (
	"crypto/rand"
	"math/big"
)

// base57 is the alphabet livekit uses for its short ids (shortuuid without
// the look-alikes 0, 1, I, O, l).
const base57 = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// Id prefixes used by livekit-server.
const (
	prefixRoom        = "RM_"
	prefixParticipant = "PA_"
	prefixDataTrack   = "DTR_"
	prefixNode        = "ND_"
)

// newID returns prefix + 12 random base-57 characters (as recorded:
// "RM_WXy6S9ufN5xh", "DTR_rVMhX89qWLSy").
func newID(prefix string) string {
	b := make([]byte, 12)
	n := big.NewInt(int64(len(base57)))
	for i := range b {
		v, err := rand.Int(rand.Reader, n)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = base57[v.Int64()]
	}
	return prefix + string(b)
}

// randomASCII returns n random alphanumeric characters (the JoinResponse
// sif_trailer is 43–44 such characters in the recordings).
func randomASCII(n int) []byte {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	r := make([]byte, n)
	_, _ = rand.Read(r)
	for i := range b {
		b[i] = alnum[int(r[i])%len(alnum)]
	}
	return b
}

// randIntn returns a uniform random int in [0, n).
func randIntn(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}
