package draw_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/draw"
)

// Upper 0.001 quantiles of the chi-square distribution: a uniform draw
// exceeds them once in a thousand tries.
const (
	chi2Crit9  = 27.88  // 9 degrees of freedom
	chi2Crit36 = 67.99  // 36
	chi2Crit81 = 126.08 // 81
)

// testSeed derives the k-th seed of the tests from k, so that every run
// checks the same seeds and a passing test stays passing.
func testSeed(k uint64) draw.Seed {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], k)
	return draw.Seed(sha256.Sum256(b[:]))
}

// vectorSeed is the seed of the known-answer vectors: bytes 0, 1, ..., 31.
func vectorSeed() draw.Seed {
	var s draw.Seed
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

func TestPermute_Bijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 8, 1000, 65537} {
		s := testSeed(n)
		seen := make([]bool, n)
		for i := range n {
			p := draw.Permute(s, n, i)
			if p >= n {
				t.Fatalf("n=%d: Permute(%d) = %d, out of range", n, i, p)
			}
			if seen[p] {
				t.Fatalf("n=%d: position %d given twice", n, p)
			}
			seen[p] = true
			if got := draw.Inverse(s, n, p); got != i {
				t.Fatalf("n=%d: Inverse(Permute(%d)) = %d", n, i, got)
			}
		}
	}
}

// TestPermute_KnownAnswer pins the algorithm: these values were produced by
// an independent implementation (Python, hmac and hashlib) written from the
// package documentation alone. If this test fails, published draws can no
// longer be recomputed.
func TestPermute_KnownAnswer(t *testing.T) {
	s := vectorSeed()
	if got, want := s.Commitment(), "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"; got != want {
		t.Errorf("Commitment = %s, want %s", got, want)
	}
	if got, want := draw.Order(s, 10), []uint64{9, 7, 10, 1, 4, 5, 3, 2, 8, 6}; !slices.Equal(got, want) {
		t.Errorf("Order(10) = %v, want %v", got, want)
	}
	tests := []struct {
		name    string
		n, i, p uint64
	}{
		{"Billion", 1_000_000_000, 123_456_789, 259_733_472},
		{"Above2To63", 1<<63 + 12345, 1 << 62, 4_984_644_552_358_398_378},
		{"MaxN", 1<<64 - 1, 5, 591_191_322_528_606_265},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := draw.Permute(s, tt.n, tt.i); got != tt.p {
				t.Errorf("Permute(%d, %d) = %d, want %d", tt.n, tt.i, got, tt.p)
			}
			if got := draw.Inverse(s, tt.n, tt.p); got != tt.i {
				t.Errorf("Inverse(%d, %d) = %d, want %d", tt.n, tt.p, got, tt.i)
			}
		})
	}
}

func TestPermute_OutOfRange(t *testing.T) {
	tests := []struct {
		name string
		call func()
	}{
		{"Permute", func() { draw.Permute(vectorSeed(), 10, 10) }},
		{"Inverse", func() { draw.Inverse(vectorSeed(), 10, 10) }},
		{"Empty", func() { draw.Permute(vectorSeed(), 0, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic for an index outside [0, n)")
				}
			}()
			tt.call()
		})
	}
}

// decileChiSquare buckets n join indexes by decile and their positions by
// decile: a 10x10 contingency table whose margins are all n/10, with 81
// degrees of freedom. An order that keeps any trace of arrival order fails it.
func decileChiSquare(n uint64, position func(i uint64) uint64) float64 {
	table := newTable(10, 10)
	for i := range n {
		table[i*10/n][position(i)*10/n]++
	}
	return chiSquare(table, float64(n)/100)
}

// firstChiSquare buckets the position of join index 0 by decile over many
// seeds: 9 degrees of freedom. It fails an order that favours early arrivals.
func firstChiSquare(seeds, n uint64, position func(s draw.Seed) uint64) float64 {
	buckets := newTable(1, 10)
	for k := range seeds {
		buckets[0][position(testSeed(k))*10/n]++
	}
	return chiSquare(buckets, float64(seeds)/10)
}

func newTable(rows, cols int) [][]float64 {
	t := make([][]float64, rows)
	for i := range t {
		t[i] = make([]float64, cols)
	}
	return t
}

// chiSquare is Pearson's statistic of observed counts that should all equal
// expected.
func chiSquare(table [][]float64, expected float64) float64 {
	var sum float64
	for _, row := range table {
		for _, o := range row {
			sum += (o - expected) * (o - expected) / expected
		}
	}
	return sum
}

// TestPermute_Uniform is the acceptance test: a pre-queue of 10,000 people
// gets an order that a chi-square test accepts as uniform.
func TestPermute_Uniform(t *testing.T) {
	const n = 10_000
	t.Run("DecilesOneSeed", func(t *testing.T) {
		s := testSeed(1)
		got := decileChiSquare(n, func(i uint64) uint64 { return draw.Permute(s, n, i) })
		if got > chi2Crit81 {
			t.Errorf("chi-square %.1f > %.2f", got, chi2Crit81)
		}
		t.Logf("chi-square %.1f, 81 dof", got)
	})
	t.Run("FirstIndexManySeeds", func(t *testing.T) {
		got := firstChiSquare(2000, n, func(s draw.Seed) uint64 { return draw.Permute(s, n, 0) })
		if got > chi2Crit9 {
			t.Errorf("chi-square %.1f > %.2f", got, chi2Crit9)
		}
		t.Logf("chi-square %.1f, 9 dof", got)
	})
	t.Run("SmallQueueManySeeds", func(t *testing.T) {
		// n = 7 lives in a 16-element domain: most steps cycle-walk.
		const n, seeds = 7, 2000
		table := newTable(n, n)
		for k := range uint64(seeds) {
			for i, p := range draw.Order(testSeed(k), n) {
				table[i][p-1]++
			}
		}
		if got := chiSquare(table, float64(seeds)/n); got > chi2Crit36 {
			t.Errorf("chi-square %.1f > %.2f", got, chi2Crit36)
		}
	})
}

// TestPermute_UniformCanFail shows that the chi-square checks above reject
// broken orders, so their passing means something.
func TestPermute_UniformCanFail(t *testing.T) {
	const n = 10_000
	identity := func(i uint64) uint64 { return i }
	t.Run("IdentityDeciles", func(t *testing.T) {
		if got := decileChiSquare(n, identity); got <= chi2Crit81 {
			t.Errorf("identity passes: chi-square %.1f", got)
		}
	})
	t.Run("IdentityFirstIndex", func(t *testing.T) {
		if got := firstChiSquare(2000, n, func(draw.Seed) uint64 { return 0 }); got <= chi2Crit9 {
			t.Errorf("identity passes: chi-square %.1f", got)
		}
	})
	// A seeded rotation puts index 0 anywhere (it passes the first-index
	// check) but keeps arrival order: the decile table catches it.
	rotation := func(s draw.Seed) func(uint64) uint64 {
		offset := binary.BigEndian.Uint64(s[:]) % n
		return func(i uint64) uint64 { return (i + offset) % n }
	}
	t.Run("RotationFirstIndex", func(t *testing.T) {
		if got := firstChiSquare(2000, n, func(s draw.Seed) uint64 { return rotation(s)(0) }); got > chi2Crit9 {
			t.Errorf("rotation fails the first-index check too: chi-square %.1f", got)
		}
	})
	t.Run("RotationDeciles", func(t *testing.T) {
		if got := decileChiSquare(n, rotation(testSeed(1))); got <= chi2Crit81 {
			t.Errorf("rotation passes: chi-square %.1f", got)
		}
	})
}

func TestOrder(t *testing.T) {
	if got := draw.Order(vectorSeed(), 0); len(got) != 0 {
		t.Errorf("Order(0) = %v, want empty", got)
	}
	s := testSeed(7)
	for i, p := range draw.Order(s, 100) {
		if want := draw.Permute(s, 100, uint64(i)) + 1; p != want {
			t.Fatalf("Order[%d] = %d, want %d", i, p, want)
		}
	}
}

func TestSeed(t *testing.T) {
	s := draw.NewSeed()
	if s == draw.NewSeed() || s == (draw.Seed{}) {
		t.Fatal("NewSeed is not random")
	}
	t.Run("Verify", func(t *testing.T) {
		c := s.Commitment()
		tests := []struct {
			name       string
			commitment string
			seed       draw.Seed
			want       bool
		}{
			{"OK", c, s, true},
			{"UpperCase", strings.ToUpper(c), s, true},
			{"OtherSeed", c, testSeed(0), false},
			{"SeedAsCommitment", s.String(), s, false},
			{"Short", c[:62], s, false},
			{"NotHex", c[:63] + "g", s, false},
			{"Empty", "", s, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := draw.Verify(tt.commitment, tt.seed); got != tt.want {
					t.Errorf("Verify = %v, want %v", got, tt.want)
				}
			})
		}
	})
	t.Run("ParseSeed", func(t *testing.T) {
		got, err := draw.ParseSeed(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSeed(String()) = %v, %v; want the seed back", got, err)
		}
		if got, err := draw.ParseSeed(strings.ToUpper(s.String())); err != nil || got != s {
			t.Errorf("ParseSeed(upper case) = %v, %v; want the seed back", got, err)
		}
		for _, bad := range []string{"", s.String()[:62], s.String() + "00", s.String()[:63] + "x"} {
			if _, err := draw.ParseSeed(bad); !errors.Is(err, draw.ErrInvalidSeed) {
				t.Errorf("ParseSeed(%q) err = %v, want ErrInvalidSeed", bad, err)
			}
		}
	})
}

// BenchmarkPermute measures one person's position in a full day's cohort.
func BenchmarkPermute(b *testing.B) {
	s := testSeed(0)
	const n = 1_900_000
	var i uint64
	for b.Loop() {
		draw.Permute(s, n, i%n)
		i++
	}
}

// BenchmarkOrder measures recomputing a 10,000-person draw; per person it
// should cost less than BenchmarkPermute, which builds an HMAC each call.
func BenchmarkOrder(b *testing.B) {
	s := testSeed(0)
	for b.Loop() {
		draw.Order(s, 10_000)
	}
}
