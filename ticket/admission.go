package ticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultAdmissionTTL is the lifetime of an admission token when
// AdmissionOptions.TTL is 0.
const DefaultAdmissionTTL = 10 * time.Minute

// EdKey is an admission token signing key.
type EdKey struct {
	// ID is the key id ("kid"): 1 to 64 bytes of [A-Za-z0-9._-].
	ID      string
	Private ed25519.PrivateKey
	// SignFrom is when the key may start signing; zero means at once. Until
	// then it is only published and verifies, so that backends learn it
	// before the first token it signs reaches them (key rotation).
	SignFrom time.Time
}

// EdPublicKey is an admission token verification key, as a JWKS publishes
// it: what a backend holds.
type EdPublicKey struct {
	// ID is the key id ("kid"), as in EdKey.
	ID     string
	Public ed25519.PublicKey
}

// AdmissionOptions configures AdmissionKeys.
type AdmissionOptions struct {
	// Issuer is the "iss" claim. Required.
	Issuer string
	// Audience is the "aud" claim, naming the booking backend. Required.
	Audience string
	// TTL is how long a token stays valid after Issue, in whole seconds,
	// and the longest lifetime (exp - iat) Verify, Check and CheckClaims
	// accept: a token signed with a longer one, by a gateway configured
	// otherwise or anyone else holding a key, is refused (ErrLifetime).
	// Default DefaultAdmissionTTL.
	TTL time.Duration
	// Leeway is the clock difference tolerated around iat, nbf and exp when
	// verifying, in whole seconds, at most MaxAdmissionLeeway. The gateway
	// checks tokens it signed itself on the same clock and uses 0; a backend
	// on another machine allows a few seconds.
	Leeway time.Duration
}

// MaxAdmissionLeeway is the largest AdmissionOptions.Leeway: more would
// stretch a session noticeably past its exp.
const MaxAdmissionLeeway = 5 * time.Minute

// Admission is the content of an admission token.
type Admission struct {
	Subject  string    // "sub": base64url of Queue.Subject
	Device   string    // "dev": base64url of the DeviceHash
	Room     string    // "room"
	Position int64     // "pos"
	Method   string    // "method": how the person was verified; omitted when empty
	ID       string    // "jti": the session id, 16 bytes in base64url; Issue makes a random one when empty
	IssuedAt time.Time // "iat": the admission time, set by Issue
	Expiry   time.Time // "exp", set by Issue
}

// admissionClaims is Admission as JSON.
type admissionClaims struct {
	jwt.RegisteredClaims
	Device   string `json:"dev"`
	Room     string `json:"room"`
	Position int64  `json:"pos"`
	Method   string `json:"method,omitempty"`
}

// ErrNoSigner means Issue found no key that may sign at the given time: all
// of them have a SignFrom still to come, or the keys only verify
// (NewAdmissionVerifier).
var ErrNoSigner = errors.New("ticket: no admission key may sign")

// AdmissionKeys issues and verifies admission tokens: EdDSA (Ed25519) JWTs
// whose header names the key ("kid"). It signs with the first key whose
// SignFrom has passed, verifies with any, and publishes all of them as a
// JWKS. It keeps a bounded cache of verified tokens for Check and
// CheckClaims. Safe for concurrent use.
type AdmissionKeys struct {
	signers  []signer // in the order given: the first that may sign does
	public   map[string]ed25519.PublicKey
	issuer   string
	audience string
	ttl      time.Duration
	maxLife  int64 // seconds: ttl rounded up, the longest exp - iat accepted
	leeway   int64 // seconds
	jwks     []byte
	cache    verifiedCache
}

type signer struct {
	id   string
	key  ed25519.PrivateKey
	from time.Time
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// NewAdmissionKeys returns keys that sign with the first of keys whose
// SignFrom has passed and verify tokens signed with any of keys. It fails on
// no key, an invalid or duplicate key id, a private key of the wrong size,
// an empty Issuer or Audience, a TTL that is negative or under a second, or
// a Leeway that is negative, over MaxAdmissionLeeway or not whole seconds.
func NewAdmissionKeys(keys []EdKey, o AdmissionOptions) (*AdmissionKeys, error) {
	pubs := make([]EdPublicKey, 0, len(keys))
	signers := make([]signer, 0, len(keys))
	for _, key := range keys {
		if len(key.Private) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("ticket: admission key %q: not an Ed25519 private key", key.ID)
		}
		pubs = append(pubs, EdPublicKey{ID: key.ID, Public: key.Private.Public().(ed25519.PublicKey)})
		signers = append(signers, signer{id: key.ID, key: bytes.Clone(key.Private), from: key.SignFrom})
	}
	k, err := NewAdmissionVerifier(pubs, o)
	if err != nil {
		return nil, err
	}
	k.signers = signers
	return k, nil
}

// NewAdmissionVerifier returns keys that only verify, with public keys such
// as a JWKS publishes: what a backend holds. Issue fails with ErrNoSigner;
// o.TTL only caps the lifetime of the tokens accepted. It fails like
// NewAdmissionKeys.
func NewAdmissionVerifier(keys []EdPublicKey, o AdmissionOptions) (*AdmissionKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("ticket: no admission key")
	}
	if o.Issuer == "" || o.Audience == "" {
		return nil, errors.New("ticket: admission issuer and audience are required")
	}
	if o.TTL == 0 {
		o.TTL = DefaultAdmissionTTL
	}
	if o.TTL < time.Second {
		return nil, fmt.Errorf("ticket: admission ttl %v is under a second", o.TTL)
	}
	// Whole seconds keep the cache's unix-second comparisons exact.
	if o.Leeway < 0 || o.Leeway > MaxAdmissionLeeway || o.Leeway%time.Second != 0 {
		return nil, fmt.Errorf("ticket: admission leeway %v must be whole seconds from 0 to %v", o.Leeway, MaxAdmissionLeeway)
	}
	k := &AdmissionKeys{
		public:   make(map[string]ed25519.PublicKey, len(keys)),
		issuer:   o.Issuer,
		audience: o.Audience,
		ttl:      o.TTL,
		maxLife:  int64((o.TTL + time.Second - 1) / time.Second),
		leeway:   int64(o.Leeway / time.Second),
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for _, key := range keys {
		if !validKeyID(key.ID) {
			return nil, fmt.Errorf("ticket: invalid admission key id %q", key.ID)
		}
		if _, dup := k.public[key.ID]; dup {
			return nil, fmt.Errorf("ticket: duplicate admission key id %q", key.ID)
		}
		if len(key.Public) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ticket: admission key %q: not an Ed25519 public key", key.ID)
		}
		pub := bytes.Clone(key.Public)
		k.public[key.ID] = pub
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pub), Kid: key.ID, Use: "sig", Alg: "EdDSA"})
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("ticket: jwks: %w", err)
	}
	k.jwks = jwks
	return k, nil
}

// JWKS returns the verification keys as a JSON Web Key Set
// ({"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"use":"sig","alg":"EdDSA"}]}),
// for /.well-known/jwks.json. The caller may modify the returned slice.
func (k *AdmissionKeys) JWKS() []byte { return bytes.Clone(k.jwks) }

// TTL is how long a token stays valid after its iat (AdmissionOptions.TTL).
func (k *AdmissionKeys) TTL() time.Duration { return k.ttl }

// Issue signs a token for a with the first key whose SignFrom is not after
// now. It sets a.ID to a random id, a.IssuedAt to now and a.Expiry to now +
// TTL (both in whole seconds, as in the token) and returns the token and the
// claims it holds. An empty Subject, Device or Room fails with ErrClaims, no
// key that may sign at now with ErrNoSigner.
func (k *AdmissionKeys) Issue(a Admission, now time.Time) (token string, claims Admission, err error) {
	i := slices.IndexFunc(k.signers, func(s signer) bool { return !s.from.After(now) })
	if i < 0 {
		return "", Admission{}, fmt.Errorf("%w at %s", ErrNoSigner, now.UTC().Format(time.RFC3339))
	}
	if a.Subject == "" || a.Device == "" || a.Room == "" {
		return "", Admission{}, fmt.Errorf("%w: subject, device and room are required", ErrClaims)
	}
	if a.ID == "" {
		a.ID = NewDeviceID() // 16 random bytes, base64url: as unique as a device id
	} else if _, ok := sessionID(a.ID); !ok {
		return "", Admission{}, fmt.Errorf("%w: jti must be 16 bytes in base64url", ErrClaims)
	}
	a.IssuedAt = time.Unix(now.Unix(), 0)
	a.Expiry = time.Unix(now.Add(k.ttl).Unix(), 0)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, admissionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    k.issuer,
			Subject:   a.Subject,
			Audience:  jwt.ClaimStrings{k.audience},
			ExpiresAt: jwt.NewNumericDate(a.Expiry),
			IssuedAt:  jwt.NewNumericDate(a.IssuedAt),
			ID:        a.ID,
		},
		Device:   a.Device,
		Room:     a.Room,
		Position: a.Position,
		Method:   a.Method,
	})
	t.Header["kid"] = k.signers[i].id
	token, err = t.SignedString(k.signers[i].key)
	if err != nil {
		return "", Admission{}, fmt.Errorf("ticket: sign admission: %w", err)
	}
	return token, a, nil
}

// Verify fully parses and verifies token: size, algorithm EdDSA, a known
// "kid", signature, issuer, audience, exp > now (required), iat <= now,
// nbf <= now if present (the times with the Leeway), sub, dev and room
// present, exp - iat at most the TTL, jti a session id (16 bytes in
// base64url), and the device binding. It does not check the room: Check
// does, and a backend that verifies claims checks Admission.Room itself.
// Errors: ErrTooLarge, ErrMalformed, ErrAlgorithm, ErrKey, ErrSignature,
// ErrExpired, ErrClaims (ErrLifetime among them), ErrDevice, wrapping
// golang-jwt's error where there
// is one (a missing claim wraps jwt.ErrTokenRequiredClaimMissing, a wrong
// audience jwt.ErrTokenInvalidAudience, and so on). Verify does not use or
// fill the cache.
func (k *AdmissionKeys) Verify(token, deviceID []byte, now time.Time) (Admission, error) {
	c, err := k.parse(token, deviceID, now)
	if err != nil {
		return Admission{}, err
	}
	return c.admission(), nil
}

func (c *admissionClaims) admission() Admission {
	return Admission{
		Subject:  c.Subject,
		Device:   c.Device,
		Room:     c.Room,
		Position: c.Position,
		Method:   c.Method,
		ID:       c.ID,
		IssuedAt: c.IssuedAt.Time,
		Expiry:   c.ExpiresAt.Time,
	}
}

// Check is Verify without the claims, for every proxied request: it also
// requires the token's room to be room (else ErrRoom), and returns the
// token's session id (its decoded jti), which callers check against ended
// sessions. A token it has verified before is looked up by its SHA-256
// instead of parsed again: a hit only re-checks room, expiry, issue time and
// device, and does not allocate. Check accepts exactly the tokens for room
// that Verify accepts at now; it reports the same errors, though on a hit
// not necessarily the same one of several. A token for another room is not
// cached: each check of one costs a full verification, as a forged one does.
func (k *AdmissionKeys) Check(token, deviceID []byte, room string, now time.Time) (session [16]byte, err error) {
	e, err := k.check(token, deviceID, room, now, false)
	return e.jti, err
}

// CheckClaims is Check returning the token's claims, for a backend that
// hands them to its handlers. Every hit on one token returns the same
// *Admission: read it, never modify it. A hit does not allocate either.
func (k *AdmissionKeys) CheckClaims(token, deviceID []byte, now time.Time) (*Admission, error) {
	e, err := k.check(token, deviceID, "", now, true)
	if err != nil {
		return nil, err
	}
	return e.claims, nil
}

// check serves Check (room set) and CheckClaims (room "": any room). The
// gateway's Check does not keep claims in the cache, which holds hundreds
// of thousands of entries; a hit without them when they are wanted counts
// as a miss.
func (k *AdmissionKeys) check(token, deviceID []byte, room string, now time.Time, wantClaims bool) (cacheEntry, error) {
	if len(token) > MaxTokenSize {
		return cacheEntry{}, ErrTooLarge
	}
	sum := sha256.Sum256(token)
	sh := k.cache.shard(&sum)
	if e, ok := sh.get(&sum); ok && (!wantClaims || e.claims != nil) {
		if room != "" && e.room != room {
			return cacheEntry{}, ErrRoom
		}
		return e, e.check(DeviceHash(deviceID), now.Unix())
	}
	c, err := k.parse(token, deviceID, now)
	if err != nil {
		return cacheEntry{}, err
	}
	if room == "" {
		room = c.Room
	} else if c.Room != room {
		return cacheEntry{}, ErrRoom
	}
	jti, _ := sessionID(c.ID) // parse checked it
	// room is the caller's string when it passed one: the gateway's
	// entries then share its room name instead of each keeping a copy.
	e := cacheEntry{from: c.IssuedAt.Unix() - k.leeway, exp: c.ExpiresAt.Unix() + k.leeway, dev: DeviceHash(deviceID), jti: jti, room: room}
	if c.NotBefore != nil {
		e.from = max(e.from, c.NotBefore.Unix()-k.leeway)
	}
	if wantClaims {
		a := c.admission()
		e.claims = &a
	}
	sh.put(&sum, e, now.Unix())
	return e, nil
}

// SessionID returns the session id of an admission token id, as Check
// reports it.
func SessionID(jti string) ([16]byte, bool) { return sessionID(jti) }

func sessionID(jti string) (id [16]byte, ok bool) {
	if len(jti) != idLen {
		return id, false
	}
	n, err := b64.Decode(id[:], []byte(jti))
	return id, err == nil && n == len(id)
}

func (k *AdmissionKeys) parse(token, deviceID []byte, now time.Time) (*admissionClaims, error) {
	if len(token) > MaxTokenSize {
		return nil, ErrTooLarge
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(k.issuer),
		jwt.WithAudience(k.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(time.Duration(k.leeway)*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c admissionClaims
	t, err := p.ParseWithClaims(string(token), &c, k.keyFor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", classifyJWTError(t, err), err)
	}
	if c.Subject == "" || c.Device == "" || c.Room == "" || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: %w: sub, dev, room and iat are required", ErrClaims, jwt.ErrTokenRequiredClaimMissing)
	}
	if c.ID == "" {
		return nil, fmt.Errorf("%w: %w: jti is required", ErrClaims, jwt.ErrTokenRequiredClaimMissing)
	}
	if c.ExpiresAt.Unix()-c.IssuedAt.Unix() > k.maxLife {
		return nil, ErrLifetime
	}
	if _, ok := sessionID(c.ID); !ok {
		return nil, fmt.Errorf("%w: jti must be a session id (16 bytes in base64url)", ErrClaims)
	}
	dh := DeviceHash(deviceID)
	if subtle.ConstantTimeCompare([]byte(c.Device), b64.AppendEncode(nil, dh[:])) != 1 {
		return nil, ErrDevice
	}
	return &c, nil
}

// keyFor is the jwt.Keyfunc: the public key the header's "kid" names.
func (k *AdmissionKeys) keyFor(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if pub, ok := k.public[kid]; ok {
		return pub, nil
	}
	return nil, ErrKey
}

// classifyJWTError maps a golang-jwt parse error to this package's sentinel.
func classifyJWTError(t *jwt.Token, err error) error {
	switch {
	case errors.Is(err, ErrKey):
		return ErrKey
	case errors.Is(err, jwt.ErrTokenMalformed) || t == nil:
		return ErrMalformed
	case t.Header["alg"] != jwt.SigningMethodEdDSA.Alg():
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return ErrClaims
	default:
		return ErrMalformed
	}
}

// ParseJWKS returns the Ed25519 signing keys of a JWKS, as JWKS writes
// them. Keys of other types or for other uses are skipped (an admission
// verifier refuses their tokens anyway); a malformed Ed25519 key or a set without any fails the whole set,
// so that a broken answer never replaces good keys.
func ParseJWKS(body []byte) ([]EdPublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("key set is not a JWKS: %w", err)
	}
	var keys []EdPublicKey
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "EdDSA") {
			continue
		}
		x, err := b64.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %q: x is not a base64url Ed25519 public key", k.Kid)
		}
		keys = append(keys, EdPublicKey{ID: k.Kid, Public: x})
	}
	if len(keys) == 0 {
		return nil, errors.New("key set holds no Ed25519 signing key")
	}
	return keys, nil
}
