//go:build !race

package gateway

import (
	"net/netip"
	"testing"
	"time"
)

// The checks a join or a start adds: a signed device issued, a device
// recognised, a token taken from an existing bucket.

func BenchmarkAbuse_NewDevice(b *testing.B) {
	a := newAbuse(Abuse{})
	b.ReportAllocs()
	for b.Loop() {
		a.newDevice()
	}
}

func BenchmarkAbuse_SignedDevice(b *testing.B) {
	a := newAbuse(Abuse{})
	id := []byte(a.newDevice())
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := a.signedDevice(id); !ok {
			b.Fatal("not recognised")
		}
	}
}

func BenchmarkBudgets_Take(b *testing.B) {
	bs := newBudgets(Budget{PerMinute: 1e9, Burst: 1e9})
	k := addressKey(netip.MustParseAddr("203.0.113.9"))
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		bs.take(k, now)
	}
}
