// Package draw is the fair opening draw: the order in which the people who
// were waiting before a window opened enter the queue.
//
// People who arrive before the opening wait in a pre-queue and get join
// indexes 0..n-1; n is fixed at the opening instant. At the opening, index i
// gets queue position Permute(seed, n, i) + 1. Permute is a keyed
// permutation, so the order is random to anyone who does not know
// the seed, costs O(1) per person, and needs no sorting and no memory
// proportional to n.
//
// The draw is auditable by commit and reveal:
//
//  1. Before the opening the operator creates a Seed with NewSeed, keeps it
//     secret and publishes its Commitment, hex(SHA-256(seed)).
//  2. At the opening the order is decided by the seed and n alone.
//  3. After the opening the operator publishes the seed (Seed.String) and n.
//     Anyone checks Verify(commitment, seed) and recomputes every position
//     with Order, or with their own implementation of the definition below.
//
// Because the commitment was public before anybody's join index was known,
// the operator could not pick a seed that favours someone without breaking
// SHA-256.
//
// # Definition
//
// Permute(seed, n, i), for 0 <= i < n, is defined as follows. All integers
// are unsigned 64-bit; "||" is concatenation.
//
//	k    = the bit length of n-1 (0 for n = 1), rounded up to an even
//	       number, and at least 2; the domain is [0, 2^k)
//	h    = k/2, mask = 2^h - 1
//	F(r, v) = the first 8 bytes, read big-endian, of
//	       HMAC-SHA256(key = the 32 seed bytes,
//	                   message = one byte r || v as 8 bytes big-endian)
//	E(x) = L = x >> h, R = x & mask
//	       for r = 0, 1, ..., 7:  L, R = R, L xor (F(r, R) & mask)
//	       return L << h | R
//	Permute: x = E(i); while x >= n: x = E(x); return x
//
// E is an 8-round balanced Feistel network, a permutation of [0, 2^k).
// Walking its cycle from i until it lands in [0, n) ("cycle walking") gives a
// permutation of [0, n). Since 2^k < 4n for n >= 2, fewer than 4 evaluations
// of E are needed on average. Inverse walks the inverse network the same way.
//
// Each person's position is uniform over [0, n) for a seed they cannot
// predict; the tests check it with chi-square tests. Whole orderings are not
// exactly equally likely for tiny n: a Feistel network with halves of two or
// more bits yields only even permutations of its domain, and for n = 5 the
// 120 orderings are measurably unequal over many seeds. No one person's
// chances are affected by that.
//
// Example (the known-answer vector in the tests): for the seed
// 000102...1f (bytes 0 to 31), Order(seed, 10) is
// [9 7 10 1 4 5 3 2 8 6].
package draw

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/bits"
)

// rounds is the number of Feistel rounds. Four rounds with random round
// functions already give a pseudorandom permutation; eight leave a margin for
// the tiny domains of small pre-queues.
const rounds = 8

// ErrInvalidSeed means a seed that is not 64 hexadecimal digits.
var ErrInvalidSeed = errors.New("draw seed must be 64 hex digits")

// Seed is the secret that decides a draw.
type Seed [32]byte

// NewSeed returns a seed from crypto/rand.
func NewSeed() Seed {
	var s Seed
	rand.Read(s[:]) // never returns an error; it crashes the program instead
	return s
}

// Commitment is hex(SHA-256(s)), lowercase: published before the opening.
func (s Seed) Commitment() string {
	sum := sha256.Sum256(s[:])
	return hex.EncodeToString(sum[:])
}

// String is the seed in lowercase hex. It reveals the secret: publish or log
// it only after the opening it decides.
func (s Seed) String() string { return hex.EncodeToString(s[:]) }

// ParseSeed parses 64 hex digits (either case), as written by Seed.String.
// Errors: ErrInvalidSeed.
func ParseSeed(s string) (Seed, error) {
	var seed Seed
	if len(s) != 2*len(seed) {
		return Seed{}, ErrInvalidSeed
	}
	if _, err := hex.Decode(seed[:], []byte(s)); err != nil {
		return Seed{}, ErrInvalidSeed
	}
	return seed, nil
}

// Verify reports whether commitment (hex, either case) is the Commitment of
// s. The comparison takes the same time wherever the first difference is.
func Verify(commitment string, s Seed) bool {
	want, err := hex.DecodeString(commitment)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(s[:])
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// Permute returns the 0-based position of join index i among n people: a
// bijection of [0, n) chosen by s, as defined in the package documentation.
// It panics if i >= n.
func Permute(s Seed, n, i uint64) uint64 {
	f := newFeistel(s, n)
	return f.walk(i, f.encrypt)
}

// Inverse returns the join index at 0-based position p among n people:
// Inverse(s, n, Permute(s, n, i)) == i. It panics if p >= n.
func Inverse(s Seed, n, p uint64) uint64 {
	f := newFeistel(s, n)
	return f.walk(p, f.decrypt)
}

// Order returns the 1-based queue positions of all n join indexes:
// Order(s, n)[i] == Permute(s, n, i) + 1. It is meant for verifiers and
// needs 8n bytes.
func Order(s Seed, n uint64) []uint64 {
	out := make([]uint64, n)
	if n == 0 {
		return out
	}
	f := newFeistel(s, n)
	for i := range out {
		out[i] = f.walk(uint64(i), f.encrypt) + 1
	}
	return out
}

// feistel evaluates the network for one seed and n, reusing one HMAC state.
type feistel struct {
	n    uint64
	h    uint // bits per half
	mask uint64
	mac  hash.Hash
	msg  [9]byte
	sum  [sha256.Size]byte
}

func newFeistel(s Seed, n uint64) *feistel {
	k := uint(bits.Len64(n - 1)) // n = 0 wraps to 64 bits; walk panics anyway
	k = max(2, k+k%2)
	return &feistel{n: n, h: k / 2, mask: 1<<(k/2) - 1, mac: hmac.New(sha256.New, s[:])}
}

func (f *feistel) walk(x uint64, step func(uint64) uint64) uint64 {
	if x >= f.n {
		panic(fmt.Sprintf("draw: index %d out of range [0, %d)", x, f.n))
	}
	for {
		if x = step(x); x < f.n {
			return x
		}
	}
}

func (f *feistel) round(r int, v uint64) uint64 {
	f.msg[0] = byte(r)
	binary.BigEndian.PutUint64(f.msg[1:], v)
	f.mac.Reset()
	f.mac.Write(f.msg[:])
	return binary.BigEndian.Uint64(f.mac.Sum(f.sum[:0])) & f.mask
}

func (f *feistel) encrypt(x uint64) uint64 {
	l, r := x>>f.h, x&f.mask
	for i := range rounds {
		l, r = r, l^f.round(i, r)
	}
	return l<<f.h | r
}

func (f *feistel) decrypt(x uint64) uint64 {
	l, r := x>>f.h, x&f.mask
	for i := rounds - 1; i >= 0; i-- {
		l, r = r^f.round(i, l), l
	}
	return l<<f.h | r
}
