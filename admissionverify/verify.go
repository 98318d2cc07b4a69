// Package admissionverify lets a backend behind the waiting-room gateway
// check, on every request, that the person was admitted: it verifies the
// admission token the gateway issued, with the keys the gateway publishes,
// and hands the admitted person to the handler.
//
// The gateway already refuses unadmitted requests, but a backend that
// trusts every request it receives is open to anyone who reaches it by
// another route. With this package the backend checks for itself:
//
//   - the token, from the wr_admission cookie or an "Authorization: Bearer"
//     header, is an EdDSA (Ed25519) JWT signed by a key in the gateway's
//     JWKS (no other algorithm is accepted, "none" and HS256 included);
//   - iss and aud are the gateway's issuer and this backend's audience;
//     exp, iat, sub, dev, room and jti are present; the token is within
//     [iat, exp) give or take a small leeway for clock differences, and
//     its lifetime (exp - iat) is at most the gateway's session duration;
//   - room is one the backend accepts (Options.Rooms): a token of another
//     waiting room, or another eligibility window, signed with the same
//     keys is refused;
//   - dev is the hash (ticket.DeviceHash) of the request's wr_device cookie,
//     so a token copied to another device is refused.
//
// The keys are fetched from the gateway's /.well-known/jwks.json when first
// needed, again when a token names a key id the set lacks (at most once per
// RefreshInterval), and in the background once they are MaxAge old, so a
// key the gateway publishes before it signs (key rotation, see
// ticket.EdKey.SignFrom) is known in time and a dropped key stops
// verifying. While the gateway cannot be reached the keys held are kept;
// a Verifier that never got any refuses everything (503).
//
// A verified token is remembered by its SHA-256, so the signature is checked
// once per token; later requests cost a hash and a map lookup and, with
// fasthttp, do not allocate.
//
// After the person's business is done (a booking), Complete or CompleteFast
// sets X-Waitroom-Complete on the response: the gateway then ends the
// person's session on every gateway and drops the header.
package admissionverify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/ticket"
)

// The names the gateway uses.
const (
	// AdmissionCookie holds the admission token.
	AdmissionCookie = "wr_admission"
	// DeviceCookie holds the device id the token is bound to.
	DeviceCookie = "wr_device"
	// CompleteHeader, set to "1" on a response, ends the person's session.
	CompleteHeader = "X-Waitroom-Complete"
)

// Defaults of Options.
const (
	// DefaultMaxLifetime is the gateway's default session_duration.
	DefaultMaxLifetime     = ticket.DefaultAdmissionTTL
	DefaultLeeway          = 5 * time.Second
	DefaultRefreshInterval = 30 * time.Second
	DefaultMaxAge          = 5 * time.Minute
	DefaultFetchTimeout    = 5 * time.Second
)

// noKeysRetry is how soon a Verifier that holds no keys may fetch again
// after a failure: the gateway may just be starting, and until it answers
// every request is refused.
const noKeysRetry = time.Second

// Options configures a Verifier. JWKSURL, Issuer, Audience and Rooms are
// required.
type Options struct {
	// JWKSURL is the gateway's key set, an http or https URL such as
	// https://wait.example/.well-known/jwks.json.
	JWKSURL string
	// Issuer is the gateway's ticket.issuer ("iss").
	Issuer string
	// Audience is the gateway's ticket.audience ("aud"), naming this backend.
	Audience string
	// Rooms are the rooms ("room") whose tokens this backend accepts: the
	// gateway's room setting. An entry ending in "*" accepts every room
	// that starts with what comes before it: with an eligibility schedule
	// the gateway names each window's room "<room>-<window id>", so
	// "vaccine-*" accepts every window of room vaccine, and listing
	// windows' rooms one by one accepts only those. "*" alone accepts any
	// room. Others are refused (403 wrong_room).
	Rooms []string
	// MaxLifetime is the longest lifetime (exp - iat) of a token accepted:
	// the gateway's session_duration, in whole seconds. A token signed with
	// a longer one is refused (401 lifetime_too_long). Default
	// DefaultMaxLifetime, the gateway's default.
	MaxLifetime time.Duration
	// Leeway is the clock difference tolerated around iat and exp, in whole
	// seconds up to ticket.MaxAdmissionLeeway. 0 means DefaultLeeway, a
	// negative value none.
	Leeway time.Duration
	// RefreshInterval is the least time between two fetches of the JWKS,
	// whatever asks for them: tokens naming unknown key ids cannot make the
	// backend hammer the gateway. Default DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MaxAge is how long fetched keys are used before they are fetched again
	// in the background; at least RefreshInterval. A new key must be
	// published this long before it signs. Default DefaultMaxAge.
	MaxAge time.Duration
	// FetchTimeout bounds one fetch of the JWKS. Default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Client fetches the JWKS. nil means a new http.Client.
	Client *http.Client
	// Logger receives a line per failed fetch. nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock tokens are checked against. nil means time.Now.
	Now func() time.Time
}

// Person is an admitted person, as the verified token describes them.
type Person struct {
	// Subject is the gateway's pseudonymous id of the person ("sub",
	// base64url): stable for one person in one room, never a name or number.
	Subject string
	// Session is the session id ("jti", 16 bytes in base64url). Every token
	// of one place in line carries the same one.
	Session string
	// Room is the queue the person waited in.
	Room string
	// Position is the person's place in that queue.
	Position int64
	// Method is how the person verified their identity ("pass", "kakao",
	// ...); empty when the gateway admits without verification.
	Method string
	// Expiry is when the token, and so the admission, expires.
	Expiry time.Time
}

// Verifier checks admission tokens against the gateway's published keys.
// Safe for concurrent use.
type Verifier struct {
	o      Options
	logURL string                 // JWKSURL without a password
	keys   atomic.Pointer[keySet] // nil until the first successful fetch
	// nextFetch is the unix nanosecond before which no fetch starts.
	nextFetch  atomic.Int64
	refreshing atomic.Bool // a background refresh is running
	mu         sync.Mutex  // one fetch at a time
}

// keySet is one fetched JWKS.
type keySet struct {
	ak *ticket.AdmissionKeys // verify-only, with its cache of verified tokens
	// fingerprint lists the key ids and keys: an unchanged set keeps ak
	// and so its cache.
	fingerprint string
	fetched     time.Time
}

// New returns a Verifier. It fetches nothing yet, so a backend may start
// before the gateway; the first request fetches the keys.
func New(o Options) (*Verifier, error) {
	u, err := url.Parse(o.JWKSURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		// Not quoted: a URL may carry credentials.
		return nil, errors.New("admissionverify: the JWKS URL must be an absolute http or https URL")
	case o.Issuer == "" || o.Audience == "":
		return nil, errors.New("admissionverify: issuer and audience are required")
	case len(o.Rooms) == 0 || slices.Contains(o.Rooms, ""):
		return nil, errors.New("admissionverify: rooms are required, none of them empty")
	}
	if o.MaxLifetime == 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.MaxLifetime < time.Second {
		return nil, fmt.Errorf("admissionverify: max lifetime %v is under a second", o.MaxLifetime)
	}
	switch {
	case o.Leeway == 0:
		o.Leeway = DefaultLeeway
	case o.Leeway < 0:
		o.Leeway = 0
	case o.Leeway > ticket.MaxAdmissionLeeway || o.Leeway%time.Second != 0:
		return nil, fmt.Errorf("admissionverify: leeway %v must be whole seconds up to %v", o.Leeway, ticket.MaxAdmissionLeeway)
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxAge < o.RefreshInterval {
		return nil, fmt.Errorf("admissionverify: max age %v is shorter than the refresh interval %v", o.MaxAge, o.RefreshInterval)
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{o: o, logURL: u.Redacted()}, nil
}

// Verify checks token for a request that carried deviceID, the raw value of
// its wr_device cookie, and returns the person it admits. The error is one
// of the Err variables of this package (an *Error). The middlewares call it;
// call it directly for other protocols.
func (v *Verifier) Verify(token, deviceID []byte) (Person, error) {
	a, e := v.check(token, deviceID)
	if e != nil {
		return Person{}, e
	}
	return personOf(a), nil
}

func personOf(a *ticket.Admission) Person {
	return Person{Subject: a.Subject, Session: a.ID, Room: a.Room, Position: a.Position, Method: a.Method, Expiry: a.Expiry}
}

// check is Verify returning the cached claims, which the middlewares hand
// to the handler without copying them.
func (v *Verifier) check(token, deviceID []byte) (*ticket.Admission, *Error) {
	if len(token) == 0 {
		return nil, ErrMissingToken
	}
	now := v.o.Now()
	ks := v.keys.Load()
	if ks == nil {
		if ks = v.refresh(nil); ks == nil {
			return nil, ErrNoKeys
		}
	} else if now.Sub(ks.fetched) >= v.o.MaxAge && now.UnixNano() >= v.nextFetch.Load() && v.refreshing.CompareAndSwap(false, true) {
		// Old keys still verify while the new set is fetched: no request
		// waits for the gateway.
		go func() {
			defer v.refreshing.Store(false)
			v.refresh(ks)
		}()
	}
	a, err := ks.ak.CheckClaims(token, deviceID, now)
	if errors.Is(err, ticket.ErrKey) {
		// Perhaps a key published since the last fetch.
		if fresh := v.refresh(ks); fresh != nil {
			a, err = fresh.ak.CheckClaims(token, deviceID, now)
		}
	}
	if err != nil {
		return nil, classify(err)
	}
	if !v.accepts(a.Room) {
		return nil, ErrRoom
	}
	return a, nil
}

// accepts reports whether Options.Rooms accepts room.
func (v *Verifier) accepts(room string) bool {
	for _, r := range v.o.Rooms {
		if prefix, ok := strings.CutSuffix(r, "*"); ok && strings.HasPrefix(room, prefix) || r == room {
			return true
		}
	}
	return false
}

// refresh fetches the key set, unless another caller replaced seen in the
// meantime (it returns that set) or the last fetch was too recent. It
// returns the set to verify with, or nil when there is none newer than seen.
func (v *Verifier) refresh(seen *keySet) *keySet {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur := v.keys.Load(); cur != seen {
		return cur
	}
	now := v.o.Now()
	if now.UnixNano() < v.nextFetch.Load() {
		return nil
	}
	v.nextFetch.Store(now.Add(v.o.RefreshInterval).UnixNano())
	ks, err := v.fetch(seen)
	if err != nil {
		v.o.Logger.Warn("admissionverify: cannot fetch the gateway's keys", "url", v.logURL, "err", err, "holding_keys", seen != nil)
		if seen == nil {
			v.nextFetch.Store(now.Add(min(v.o.RefreshInterval, noKeysRetry)).UnixNano())
		}
		return nil
	}
	v.keys.Store(ks)
	return ks
}

// classify maps a ticket verification error to what the client is told.
func classify(err error) *Error {
	switch {
	case errors.Is(err, ticket.ErrMalformed), errors.Is(err, ticket.ErrTooLarge):
		return ErrMalformed
	case errors.Is(err, ticket.ErrAlgorithm):
		return ErrAlgorithm
	case errors.Is(err, ticket.ErrKey):
		return ErrUnknownKey
	case errors.Is(err, ticket.ErrSignature):
		return ErrSignature
	case errors.Is(err, ticket.ErrExpired):
		return ErrExpired
	case errors.Is(err, ticket.ErrDevice):
		return ErrDevice
	case errors.Is(err, ticket.ErrLifetime):
		return ErrLifetime
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrMissingClaim
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrNotYetValid
	default:
		return ErrClaims
	}
}
