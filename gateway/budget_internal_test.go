package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

func TestBudgets_Take(t *testing.T) {
	bs := newBudgets(Budget{PerMinute: 2, Burst: 3})
	now := time.Unix(1_700_000_000, 0)
	k := addressKey(netip.MustParseAddr("203.0.113.9"))
	for i := range 3 {
		if ok, _ := bs.take(k, now); !ok {
			t.Fatalf("take %d refused within the burst", i+1)
		}
	}
	ok, retry := bs.take(k, now)
	if ok || retry != 30*time.Second {
		t.Fatalf("over the burst: ok %v, retry %v; want refused, 30s", ok, retry)
	}
	if ok, _ := bs.take(addressKey(netip.MustParseAddr("203.0.113.10")), now); !ok {
		t.Fatal("another address shares the bucket")
	}
	if ok, _ := bs.take(k, now.Add(30*time.Second)); !ok {
		t.Fatal("no token back after 30 s at 2 a minute")
	}
}

func TestBudgets_IdleKeysDropped(t *testing.T) {
	bs := newBudgets(Budget{PerMinute: 60, Burst: 10}) // full again after 10 s
	now := time.Unix(1_700_000_000, 0)
	const n = 70_000
	fill := func(base uint64, at time.Time) {
		for i := range uint64(n) {
			var k budgetKey
			binary.BigEndian.PutUint64(k[8:], base+i)
			bs.take(k, at)
		}
	}
	fill(0, now)
	fill(1<<32, now.Add(11*time.Second))
	if got := bs.keys(); got >= 80_000 {
		t.Fatalf("%d keys kept; want the %d idle ones dropped", got, n)
	}
}

func TestAddressKey(t *testing.T) {
	tests := []struct{ a, b string }{
		{"203.0.113.9", "::ffff:203.0.113.9"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2"}, // one /64: one subscriber
	}
	for _, tt := range tests {
		if addressKey(netip.MustParseAddr(tt.a)) != addressKey(netip.MustParseAddr(tt.b)) {
			t.Errorf("%s and %s have different keys", tt.a, tt.b)
		}
	}
	if addressKey(netip.MustParseAddr("2001:db8:1:2::1")) == addressKey(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Error("two /64s share a key")
	}
}

func TestAbuse_Devices(t *testing.T) {
	a := newAbuse(Abuse{})
	id := []byte(a.newDevice())
	if !validDevice(id) {
		t.Fatalf("issued device %q is not of the device id form", id)
	}
	if _, ok := a.signedDevice(id); !ok {
		t.Fatal("an issued device is not recognised")
	}
	forged := []byte("AAAAAAAAAAAAAAAAAAAAAA")
	if _, ok := a.signedDevice(forged); ok {
		t.Fatal("a made-up device is recognised")
	}
	other := newAbuse(Abuse{})
	if _, ok := other.signedDevice(id); ok {
		t.Fatal("a device of another key is recognised")
	}
	rotated := newAbuse(Abuse{DeviceKeys: [][]byte{other.o.DeviceKeys[0], a.o.DeviceKeys[0]}})
	if _, ok := rotated.signedDevice(id); !ok {
		t.Fatal("a device of the previous key is not recognised after rotation")
	}
}

func TestAbuse_Proof(t *testing.T) {
	a := newAbuse(Abuse{ProofBits: 8})
	dev := []byte(a.newDevice())
	now := time.Unix(1_700_000_000, 0)
	c := a.newChallenge(dev, now)
	proof, err := SolveChallenge(c, 8)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		proof string
		dev   []byte
		at    time.Time
		want  bool
	}{
		{"OK", proof, dev, now, true},
		{"ErrOtherDevice", proof, []byte(a.newDevice()), now, false},
		{"ErrExpired", proof, dev, now.Add(5*time.Minute + time.Second), false},
		{"ErrNonce", c + ":x", dev, now, false},
		{"ErrMalformed", "abc:1", dev, now, false},
		{"ErrEmptyNonce", c + ":", dev, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "ErrNonce" && leadingZeroBitsOf(tt.proof) >= 8 {
				t.Skip("the made-up nonce happens to solve this challenge")
			}
			if got := a.validProof(tt.proof, tt.dev, tt.at); got != tt.want {
				t.Fatalf("validProof = %v, want %v", got, tt.want)
			}
		})
	}
}
