package loadtest

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestEventHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h eventHeap
	var want []time.Duration
	for i := range 1000 {
		at := time.Duration(rng.IntN(500))
		h.push(event{at: at, id: int32(i)})
		want = append(want, at)
	}
	slices.Sort(want)
	for i, w := range want {
		if e := h.pop(); e.at != w {
			t.Fatalf("pop %d = %v, want %v", i, e.at, w)
		}
	}
	if len(h) != 0 {
		t.Errorf("%d left", len(h))
	}
}

func TestTamper(t *testing.T) {
	for _, tok := range []string{"aaaa.bbbb.cccc", "aaaa.AAAA.cccc", "opaque"} {
		if got := tamper(tok); got == tok || len(got) < len(tok) {
			t.Errorf("tamper(%q) = %q", tok, got)
		}
	}
}
