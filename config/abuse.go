package config

import "time"

// Abuse holds the budgets that keep one client (one address, no cookies,
// or fresh cookies on every request) from changing what anyone else sees
// or gets, while many people behind one address still get through. Each is
// a token bucket per gateway: a fleet of N gateways behind a balancer
// without address affinity lets one client N times as much.
// docs/THREAT-MODEL.md explains them.
type Abuse struct {
	// DeviceStarts bounds the verifications one device starts; over it the
	// start is refused (429 too_many_starts). Default 6 at once, 2 a minute.
	DeviceStarts Budget `mapstructure:"device_starts"`
	// AddressCountedStarts bounds the starts from one client address that
	// count toward a method's traffic light; starts over it are served but
	// do not count. Default 30 at once, 60 a minute.
	AddressCountedStarts Budget `mapstructure:"address_counted_starts"`
	// DevicePlaces bounds the new places one device takes by anonymous
	// joins; over it, 429 too_many_joins. Default 3 at once, 1 a minute.
	DevicePlaces Budget `mapstructure:"device_places"`
	// AddressPlaces is the new places one client address takes by
	// anonymous joins before every further one needs a proof of work.
	// Default 5 at once, 0.2 a minute.
	AddressPlaces Budget `mapstructure:"address_places"`
	// ProofBits is the proof of work's difficulty: leading zero bits of
	// SHA-256, 0..28 (about 2^bits hashes, once per device). 0 turns proofs
	// off: joins over AddressPlaces are then refused (429 address_busy).
	// Default 16.
	ProofBits int `mapstructure:"proof_bits"`
	// ChallengeTTL is how long a proof-of-work challenge stays valid,
	// 10s..1h. Default 5m.
	ChallengeTTL time.Duration `mapstructure:"challenge_ttl"`
}

// Budget is a token bucket: Burst requests at once, then PerMinute a
// minute (nginx limit_req's rate and burst, nodelay).
type Budget struct {
	// PerMinute is the refill rate, more than 0 and at most 1,000,000.
	PerMinute float64 `mapstructure:"per_minute"`
	// Burst is the bucket's size, 1..1,000,000.
	Burst int `mapstructure:"burst"`
}

func defaultAbuse() Abuse {
	return Abuse{
		DeviceStarts:         Budget{PerMinute: 2, Burst: 6},
		AddressCountedStarts: Budget{PerMinute: 60, Burst: 30},
		DevicePlaces:         Budget{PerMinute: 1, Burst: 3},
		AddressPlaces:        Budget{PerMinute: 0.2, Burst: 5},
		ProofBits:            16,
		ChallengeTTL:         5 * time.Minute,
	}
}

func (ps *problems) abuse(a Abuse) {
	for _, b := range []struct {
		key string
		b   Budget
	}{
		{"abuse.device_starts", a.DeviceStarts},
		{"abuse.address_counted_starts", a.AddressCountedStarts},
		{"abuse.device_places", a.DevicePlaces},
		{"abuse.address_places", a.AddressPlaces},
	} {
		if !(b.b.PerMinute > 0 && b.b.PerMinute <= 1e6) {
			ps.add(b.key+".per_minute", "must be more than 0 and at most 1000000, got %v", b.b.PerMinute)
		}
		ps.intRange(b.key+".burst", int64(b.b.Burst), 1, 1e6)
	}
	ps.intRange("abuse.proof_bits", int64(a.ProofBits), 0, 28)
	ps.durationRange("abuse.challenge_ttl", a.ChallengeTTL, 10*time.Second, time.Hour)
}
