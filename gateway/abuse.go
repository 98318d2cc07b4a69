package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"math/bits"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/identity"
)

// Abuse sets the budgets that keep one client (one address, no cookies, or
// fresh cookies on every request) from changing what anyone else sees or
// gets, while many people behind one address still get through. Every
// budget is a token bucket per gateway (see Budget); a fleet of N gateways
// behind a balancer without address affinity lets one client N times as
// much. docs/THREAT-MODEL.md explains the design. Zero fields mean the
// defaults stated.
type Abuse struct {
	// DeviceKeys sign device ids: the first signs, every one verifies. The
	// same on every gateway of a fleet. Default: a random key (one gateway
	// only; devices then count as new at other gateways).
	DeviceKeys [][]byte
	// DeviceStarts bounds the verifications one device starts; over it, 429.
	// Default 6 at once, then 2 a minute.
	DeviceStarts Budget
	// AddressCountedStarts bounds the starts from one address that count
	// toward a method's traffic light; starts beyond it are served but not
	// counted. Default 30 at once, then 60 a minute.
	AddressCountedStarts Budget
	// DevicePlaces bounds the new places one device takes with anonymous
	// joins (joining again with a valid ticket takes none); over it, 429.
	// Default 3 at once, then 1 a minute.
	DevicePlaces Budget
	// AddressPlaces is the new places one address takes with anonymous
	// joins before each further one needs a proof of work. Default 5 at
	// once, then 0.2 a minute.
	AddressPlaces Budget
	// ProofBits is the leading zero bits of SHA-256 a proof of work needs:
	// about 2^ProofBits hashes, once per device. Default 16; negative turns
	// proofs off, and joins over AddressPlaces get 429.
	ProofBits int
	// ChallengeTTL is how long a proof-of-work challenge stays valid.
	// Default 5 minutes.
	ChallengeTTL time.Duration
}

func (a *Abuse) setDefaults() {
	setBudget(&a.DeviceStarts, Budget{PerMinute: 2, Burst: 6})
	setBudget(&a.AddressCountedStarts, Budget{PerMinute: 60, Burst: 30})
	setBudget(&a.DevicePlaces, Budget{PerMinute: 1, Burst: 3})
	setBudget(&a.AddressPlaces, Budget{PerMinute: 0.2, Burst: 5})
	if a.ProofBits == 0 {
		a.ProofBits = 16
	}
	setDefault(&a.ChallengeTTL, 5*time.Minute)
	if len(a.DeviceKeys) == 0 {
		k := make([]byte, 32)
		rand.Read(k)
		a.DeviceKeys = [][]byte{k}
	}
}

func setBudget(b *Budget, def Budget) {
	if b.PerMinute <= 0 {
		b.PerMinute = def.PerMinute
	}
	if b.Burst <= 0 {
		b.Burst = def.Burst
	}
}

// abuse is a gateway's budgets and keys.
type abuse struct {
	o             Abuse
	deviceStarts  *budgets
	countedStarts *budgets
	devicePlaces  *budgets
	addressPlaces *budgets
	macs          []sync.Pool // of *macScratch, one pool per DeviceKeys entry
	// refused counts requests over a budget, by refusal; uncounted the
	// starts served but not counted toward a light.
	refused    [numRefusals]atomic.Uint64
	uncounted  atomic.Uint64
	challenges atomic.Uint64
}

// refusal is why a request over a budget was refused.
type refusal int

const (
	refusedDeviceStarts refusal = iota
	refusedDevicePlaces
	refusedAddressPlaces // a proof of work was required and missing or wrong
	numRefusals
)

var refusalNames = [numRefusals]string{"device_starts", "device_places", "address_places"}

func newAbuse(o Abuse) *abuse {
	o.setDefaults()
	a := &abuse{
		o:             o,
		deviceStarts:  newBudgets(o.DeviceStarts),
		countedStarts: newBudgets(o.AddressCountedStarts),
		devicePlaces:  newBudgets(o.DevicePlaces),
		addressPlaces: newBudgets(o.AddressPlaces),
		macs:          make([]sync.Pool, len(o.DeviceKeys)),
	}
	for i, k := range o.DeviceKeys {
		a.macs[i].New = func() any { return &macScratch{h: hmac.New(sha256.New, k)} }
	}
	return a
}

// MAC domains: a device id's MAC and a challenge's are never the same.
var (
	domainDevice    = []byte("wr-device")
	domainChallenge = []byte("wr-challenge")
)

// macScratch is one MAC computation's state, pooled: inputs are copied
// into buf rather than handed to the hash.Hash interface, which would move
// the callers' arrays to the heap.
type macScratch struct {
	h   hash.Hash
	buf [64]byte
	sum [sha256.Size]byte
}

// mac returns HMAC-SHA256(DeviceKeys[i], domain || x || y); x and y
// together are at most 64 bytes.
func (a *abuse) mac(i int, domain, x, y []byte) [sha256.Size]byte {
	s := a.macs[i].Get().(*macScratch)
	s.h.Reset()
	s.h.Write(domain)
	n := copy(s.buf[:], x)
	n += copy(s.buf[n:], y)
	s.h.Write(s.buf[:n])
	sum := [sha256.Size]byte(s.h.Sum(s.sum[:0]))
	a.macs[i].Put(s)
	return sum
}

// Device ids are 16 bytes as 22 characters of base64url, the format of
// ticket.NewDeviceID that tickets and admission tokens bind to as it is: 8
// random bytes and the first 8 of their MAC, so only a gateway can make
// one that counts as a device it issued.
const deviceRandom = 8

// newDevice returns a signed device id.
func (a *abuse) newDevice() string {
	var id [16]byte
	rand.Read(id[:deviceRandom])
	sum := a.mac(0, domainDevice, id[:deviceRandom], nil)
	copy(id[deviceRandom:], sum[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// signedDevice reports whether the device id d (already checked by
// validDevice) was issued by a gateway, and its budget key.
func (a *abuse) signedDevice(d []byte) (budgetKey, bool) {
	var id budgetKey
	if n, err := base64.RawURLEncoding.Decode(id[:], d); err != nil || n != len(id) {
		return id, false
	}
	for i := range a.macs {
		sum := a.mac(i, domainDevice, id[:deviceRandom], nil)
		if subtle.ConstantTimeCompare(sum[:len(id)-deviceRandom], id[deviceRandom:]) == 1 {
			return id, true
		}
	}
	return id, false
}

// device is the device a request comes from.
type device struct {
	id []byte // the wr_device cookie's value, which tickets bind to
	// key is the device's budget key; known is set when the request
	// presented a device a gateway issued earlier (not one made now, nor
	// an id the client made up).
	key   budgetKey
	known bool
}

// deviceOf returns the request's device, issuing a new signed one (and
// setting its cookie) when the request has none or a malformed one. An
// unsigned id of the right form (one made up, or issued before device ids
// were signed) is kept, so the tickets bound to it stay valid, but it is
// not known.
func (g *Gateway) deviceOf(ctx *fasthttp.RequestCtx) device {
	id := cookie(&ctx.Request.Header, cookieDevice)
	if !validDevice(id) {
		id = []byte(g.abuse.newDevice())
		g.setCookie(ctx, cookieDevice, string(id), "/", 400*24*time.Hour)
		return device{id: id}
	}
	key, ok := g.abuse.signedDevice(id)
	return device{id: id, key: key, known: ok}
}

// clientAddr is the address of the person behind the request, through the
// trusted proxies.
func (g *Gateway) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return clientIP(remote.Unmap(), ctx.Request.Header.Peek("X-Forwarded-For"), g.o.TrustedProxies)
}

// countStart decides whether a verification start from d counts toward
// the method's traffic light, or refuses it. A device over its budget is
// refused (429). A start counts only from a device issued before it and
// while its address has budget left: a flood without cookies or from one
// address is served (people behind one carrier-grade NAT share it) but
// cannot make a method look busy.
func (g *Gateway) countStart(ctx *fasthttp.RequestCtx, d device, now time.Time) (bool, error) {
	a := g.abuse
	if !d.known {
		a.uncounted.Add(1)
		return false, nil
	}
	if ok, retry := a.deviceStarts.take(d.key, now); !ok {
		a.refused[refusedDeviceStarts].Add(1)
		return false, &Error{Status: fasthttp.StatusTooManyRequests, Code: "too_many_starts",
			Message: "this device started too many verifications: finish the one in progress, or wait and start again", RetryAfter: retrySeconds(retry)}
	}
	if ok, _ := a.countedStarts.take(addressKey(g.clientAddr(ctx)), now); !ok {
		a.uncounted.Add(1)
		return false, nil
	}
	return true, nil
}

// providerAnswered tells whether a callback's outcome is the provider's own
// answer, the only kind that may move a method's traffic light: a confirmed
// identity (ok), or a round trip with the provider that failed. An error
// the callback itself carries, a bad state, or a code the provider refused
// (identity.ErrToken: replayed or made up) says nothing about the provider,
// and anyone can send it. A signed ID token without the person claim is
// the provider's answer too: it counts as a failure (the method cannot
// place anyone).
func providerAnswered(query url.Values, err error) (ok, answered bool) {
	switch {
	case err == nil:
		return true, true
	case errors.Is(err, identity.ErrNoPersonClaim),
		errors.Is(err, identity.ErrProvider) && !query.Has("error"):
		return false, true
	}
	return false, false
}

// allowPlace decides whether an anonymous join from d may take a new place:
// within the device's budget, and within its address's, or with a valid
// proof of work for d.
func (g *Gateway) allowPlace(ctx *fasthttp.RequestCtx, d device, proof string, now time.Time) error {
	a := g.abuse
	if d.known {
		if ok, retry := a.devicePlaces.take(d.key, now); !ok {
			a.refused[refusedDevicePlaces].Add(1)
			return &Error{Status: fasthttp.StatusTooManyRequests, Code: "too_many_joins",
				Message: "this device took too many places: keep the one you have, or wait and join again", RetryAfter: retrySeconds(retry)}
		}
	}
	ok, retry := a.addressPlaces.take(addressKey(g.clientAddr(ctx)), now)
	switch {
	case ok:
		return nil
	case a.o.ProofBits < 0:
		a.refused[refusedAddressPlaces].Add(1)
		return &Error{Status: fasthttp.StatusTooManyRequests, Code: "address_busy",
			Message: "too many places were taken from your network address: wait and join again", RetryAfter: retrySeconds(retry)}
	case proof == "":
		a.refused[refusedAddressPlaces].Add(1)
		return errChallengeRequired
	case !a.validProof(proof, d.id, now):
		a.refused[refusedAddressPlaces].Add(1)
		return errBadProof
	}
	return nil
}

var (
	errChallengeRequired = &Error{Status: fasthttp.StatusTooManyRequests, Code: "challenge_required",
		Message: "many people join from your network address: solve the challenge at /waitroom/api/challenge and join again with the proof (the waiting page does this by itself)", RetryAfter: 1}
	errBadProof = &Error{Status: fasthttp.StatusTooManyRequests, Code: "challenge_failed",
		Message: "the proof of work is wrong, expired or for another device: get a new challenge at /waitroom/api/challenge", RetryAfter: 1}
)

// A challenge is base64url(expiry as 8 bytes of big-endian Unix seconds,
// 8 random bytes, the first 16 bytes of their MAC with the device id). A
// proof is the challenge, ":" and a nonce of 1 to 32 characters such that
// SHA-256(proof) starts with ProofBits zero bits. The device binding makes a
// proof good for one device: replayed, it meets that device's budget.
const (
	challengeLen = 8 + 8 + 16
	maxNonce     = 32
)

// challenge serves GET /waitroom/api/challenge: a challenge for the
// request's device (issued now if it had none).
func (g *Gateway) challenge(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() {
		return errMethod
	}
	a := g.abuse
	if a.o.ProofBits < 0 {
		return errNotFound
	}
	d := g.deviceOf(ctx)
	a.challenges.Add(1)
	b := make([]byte, 0, 160)
	b = append(b, `{"challenge":"`...)
	b = append(b, a.newChallenge(d.id, g.o.Now())...)
	b = append(b, `","bits":`...)
	b = strconv.AppendInt(b, int64(a.o.ProofBits), 10)
	b = append(b, `,"algorithm":"SHA-256(challenge + \":\" + nonce) starts with bits zero bits"}`...)
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.Write(b)
	return nil
}

// newChallenge returns a challenge for the device id dev, valid from now
// for ChallengeTTL.
func (a *abuse) newChallenge(dev []byte, now time.Time) string {
	var raw [challengeLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.Add(a.o.ChallengeTTL).Unix()))
	rand.Read(raw[8:16])
	sum := a.mac(0, domainChallenge, raw[:16], dev)
	copy(raw[16:], sum[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// validProof checks proof (see challenge) for the device id dev at now.
func (a *abuse) validProof(proof string, dev []byte, now time.Time) bool {
	c, nonce, ok := bytes.Cut([]byte(proof), []byte{':'})
	if !ok || len(nonce) == 0 || len(nonce) > maxNonce || base64.RawURLEncoding.DecodedLen(len(c)) != challengeLen {
		return false
	}
	var raw [challengeLen]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], c); err != nil || n != challengeLen {
		return false
	}
	if int64(binary.BigEndian.Uint64(raw[:8])) < now.Unix() {
		return false
	}
	signed := false
	for i := range a.macs {
		sum := a.mac(i, domainChallenge, raw[:16], dev)
		signed = signed || subtle.ConstantTimeCompare(sum[:16], raw[16:]) == 1
	}
	return signed && leadingZeroBitsOf(proof) >= a.o.ProofBits
}

// leadingZeroBitsOf counts the leading zero bits of SHA-256(proof).
func leadingZeroBitsOf(proof string) int { return leadingZeroBits(sha256.Sum256([]byte(proof))) }

func leadingZeroBits(sum [sha256.Size]byte) int {
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// SolveChallenge finds a nonce for challenge with bits leading zero bits
// and returns the proof to join with; for clients written in Go (the load
// test) and tests. It gives up after 2^(bits+8) tries.
func SolveChallenge(challenge string, bits int) (string, error) {
	b := make([]byte, 0, len(challenge)+21)
	b = append(append(b, challenge...), ':')
	for n := uint64(0); n < 1<<(bits+8); n++ {
		p := strconv.AppendUint(b, n, 36)
		if leadingZeroBits(sha256.Sum256(p)) >= bits {
			return string(p), nil
		}
	}
	return "", errors.New("gateway: no proof found")
}
