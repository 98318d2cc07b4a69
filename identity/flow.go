package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/waitroom/waitroom/eligibility"
)

// allowedAlgs are the ID token signature algorithms accepted, whatever a
// provider advertises.
var allowedAlgs = []string{oidc.RS256, oidc.ES256, oidc.EdDSA}

// deniedErrors are the authorization error codes that mean the person did
// not (or could not) approve, as opposed to a provider failure.
var deniedErrors = []string{"access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required"}

// client is a discovered provider.
type client struct {
	oauth oauth2.Config
	ids   *oidc.IDTokenVerifier
}

// Start begins a verification with method. It returns the provider's
// authorization URL to send the browser to, and an opaque state blob (at
// most a few hundred URL-safe characters) that the gateway keeps in an
// HttpOnly cookie until the callback.
//
// State, nonce and PKCE verifier are random. returnPath is remembered for
// Finish; anything but a local absolute path ("/..."; no "//host",
// backslashes or control characters) is replaced by "/", so the blob never
// carries an open redirect. binding is the caller's device binding (e.g. a
// device hash), required non-empty: Finish accepts the blob only with the
// same binding, which stops login CSRF and session swapping.
//
// The provider is discovered on first use and cached; after a failed
// discovery, Start fails at once with ErrProvider until RediscoverEvery has
// passed. Errors: ErrUnknownMethod, ErrDisabled, ErrProvider.
func (v *Verifier) Start(ctx context.Context, method, returnPath string, binding []byte) (authURL, stateBlob string, err error) {
	m, err := v.lookup(method)
	if err != nil {
		return "", "", err
	}
	if len(binding) == 0 {
		return "", "", fmt.Errorf("identity: %s: empty binding", method)
	}
	c, err := v.client(ctx, m)
	if err != nil {
		return "", "", err
	}
	bh := sha256.Sum256(binding)
	st := authState{
		Method:   method,
		State:    random(),
		Nonce:    random(),
		Verifier: oauth2.GenerateVerifier(),
		Return:   localPath(returnPath),
		Binding:  bh[:],
		Started:  v.now().UnixNano(),
	}
	blob, err := v.seal(st)
	if err != nil {
		return "", "", fmt.Errorf("identity: %s: seal state: %w", method, err)
	}
	return c.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), blob, nil
}

// Finish completes a verification with method from the callback's query
// (code and state, or error) and the state blob from Start. It checks the
// blob (seal, expiry, method, binding) and the state (in constant time),
// exchanges the code with the PKCE verifier, verifies the ID token (issuer,
// audience = client id, expiry, signature by the provider's JWKS, algorithm
// RS256, ES256 or EdDSA, nonce) and reads its "sub", the method's person
// claim (MethodConfig.PersonClaim) and "birthdate".
//
// It returns the person, the return path given to Start and the time Start
// was called (for latency measurement). Once the blob is accepted,
// returnPath and started are returned even with an error, so the gateway
// can send the person back and account for failed verifications too.
//
// The code is redeemed only once by the provider; a replayed callback fails
// with ErrToken. The gateway should still drop the blob cookie after Finish.
// Errors: ErrUnknownMethod, ErrDisabled, ErrState, ErrDenied, ErrProvider,
// ErrToken, ErrNoPersonClaim.
func (v *Verifier) Finish(ctx context.Context, method string, query url.Values, stateBlob string, binding []byte) (p Person, returnPath string, started time.Time, err error) {
	m, err := v.lookup(method)
	if err != nil {
		return Person{}, "", time.Time{}, err
	}
	st, err := v.open(method, stateBlob, binding)
	if err != nil {
		return Person{}, "", time.Time{}, fmt.Errorf("identity: %s: %w", method, err)
	}
	returnPath, started = st.Return, time.Unix(0, st.Started)
	fail := func(kind error, what string, args ...any) (Person, string, time.Time, error) {
		return Person{}, returnPath, started, fmt.Errorf("identity: %s: %s: %w", method, fmt.Sprintf(what, args...), kind)
	}

	if subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(st.State)) != 1 {
		return fail(ErrState, "state mismatch")
	}
	if code := query.Get("error"); code != "" {
		if slices.Contains(deniedErrors, code) {
			return fail(ErrDenied, "provider answered %s", code)
		}
		return fail(ErrProvider, "provider answered %.40q", code)
	}
	code := query.Get("code")
	if code == "" {
		return fail(ErrToken, "callback without code")
	}
	c, err := v.client(ctx, m)
	if err != nil {
		return Person{}, returnPath, started, err
	}

	tok, err := c.oauth.Exchange(oidc.ClientContext(ctx, v.http), code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// A rejected grant is the flow's fault (replay, PKCE mismatch,
			// a code from another provider), not the provider's: it must
			// not turn the method's traffic light red.
			if re.Response.StatusCode < 500 && re.ErrorCode == "invalid_grant" {
				return fail(ErrToken, "code rejected")
			}
			return fail(ErrProvider, "token endpoint answered %d %.40q", re.Response.StatusCode, re.ErrorCode)
		}
		return fail(ErrProvider, "token exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return fail(ErrToken, "token response without id_token")
	}
	var fetch fetchFailure
	idt, err := c.ids.Verify(context.WithValue(ctx, fetchKey{}, &fetch), raw)
	if err != nil {
		if fetch.err != nil {
			return fail(ErrProvider, "fetch keys: %v", fetch.err)
		}
		return fail(ErrToken, "verify id token: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return fail(ErrToken, "nonce mismatch")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return fail(ErrToken, "read claims: %v", err)
	}
	if idt.Subject == "" {
		return fail(ErrToken, "no subject")
	}
	person, _ := claims[m.cfg.PersonClaim].(string)
	if person == "" || len(person) > MaxPersonClaim {
		return fail(ErrNoPersonClaim, "person claim %s missing, empty, too long or not a string", m.cfg.PersonClaim)
	}
	birth, _ := claims["birthdate"].(string)
	bd, err := eligibility.ParseDate(birth)
	if err != nil {
		return fail(ErrToken, "birthdate claim missing or invalid")
	}
	return Person{Hash: v.hash(m, person), BirthDate: bd, Method: method}, returnPath, started, nil
}

// client returns m's provider, discovering it if needed. Concurrent callers
// wait for one discovery; a failure is remembered for RediscoverEvery.
func (v *Verifier) client(ctx context.Context, m *method) (*client, error) {
	if c := m.ready.Load(); c != nil {
		return c, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.ready.Load(); c != nil {
		return c, nil
	}
	now := v.now()
	if !m.failed.IsZero() && now.Sub(m.failed) < RediscoverEvery {
		return nil, fmt.Errorf("identity: %s: discovery failed less than %v ago: %w", m.cfg.Name, RediscoverEvery, ErrProvider)
	}
	c, err := v.discover(ctx, m.cfg)
	if err != nil {
		m.failed = now
		return nil, fmt.Errorf("identity: %s: discovery: %w: %v", m.cfg.Name, ErrProvider, err)
	}
	m.ready.Store(c)
	return c, nil
}

// discover fetches cfg's discovery document. It does not give up when ctx
// is cancelled, since other callers wait for the outcome, but it is bounded
// by DefaultHTTPTimeout.
func (v *Verifier) discover(ctx context.Context, cfg MethodConfig) (*client, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultHTTPTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.http), cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKSURL     string   `json:"jwks_uri"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	if !absHTTP(meta.JWKSURL) || !absHTTP(p.Endpoint().AuthURL) || !absHTTP(p.Endpoint().TokenURL) {
		return nil, errors.New("discovery document lacks jwks_uri, authorization or token endpoint")
	}
	endpoint := p.Endpoint()
	// Choose once rather than let oauth2 auto-detect: auto-detection
	// retries a failed exchange with the other style, which sends the
	// one-time code twice.
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if len(meta.AuthMethods) > 0 && !slices.Contains(meta.AuthMethods, "client_secret_basic") {
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	keys := keySet{oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.http), meta.JWKSURL)}
	return &client{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       []string{oidc.ScopeOpenID, "profile"},
		},
		ids: oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{
			ClientID:             cfg.ClientID,
			SupportedSigningAlgs: allowedAlgs,
			Now:                  v.now,
		}),
	}, nil
}

// keySet wraps go-oidc's remote key set to tell "the JWKS could not be
// fetched" (the provider's fault) from "the signature is bad": go-oidc
// flattens the two into one error string, so the wrapper reports fetch
// failures through a fetchFailure in the context.
type keySet struct{ remote oidc.KeySet }

type (
	fetchKey     struct{}
	fetchFailure struct{ err error }
)

func (k keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	var ue *url.Error
	if err != nil && (errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		if f, ok := ctx.Value(fetchKey{}).(*fetchFailure); ok {
			f.err = err
		}
	}
	return payload, err
}

// authState is the content of a state blob.
type authState struct {
	Method   string `json:"m"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	Return   string `json:"r"`
	Binding  []byte `json:"b"` // SHA-256 of the binding
	Started  int64  `json:"t"` // Unix nanoseconds
}

// blobVersion is the first byte of a sealed blob, authenticated with it, so
// that a future format can be told apart.
const blobVersion = 1

// maxBlob bounds the blob accepted by open, before any decoding work.
const maxBlob = 2048

// seal encrypts st with AES-256-GCM: version || nonce || ciphertext,
// base64url.
func (v *Verifier) seal(st authState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	aead := v.aead
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = blobVersion
	rand.Read(out[1:])
	out = aead.Seal(out, out[1:], plain, out[:1])
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open decrypts blob and checks its expiry, method and binding; every
// failure is ErrState.
func (v *Verifier) open(method, blob string, binding []byte) (authState, error) {
	if blob == "" || len(blob) > maxBlob {
		return authState{}, fmt.Errorf("state blob missing or too long: %w", ErrState)
	}
	raw, err := base64.RawURLEncoding.DecodeString(blob)
	if err != nil {
		return authState{}, fmt.Errorf("state blob not base64url: %w", ErrState)
	}
	aead := v.aead
	if len(raw) < 1+aead.NonceSize() || raw[0] != blobVersion {
		return authState{}, fmt.Errorf("state blob malformed: %w", ErrState)
	}
	plain, err := aead.Open(nil, raw[1:1+aead.NonceSize()], raw[1+aead.NonceSize():], raw[:1])
	if err != nil {
		return authState{}, fmt.Errorf("state blob forged: %w", ErrState)
	}
	var st authState
	if err := json.Unmarshal(plain, &st); err != nil {
		return authState{}, fmt.Errorf("state blob content: %w", ErrState)
	}
	bh := sha256.Sum256(binding)
	switch {
	case v.now().After(time.Unix(0, st.Started).Add(v.ttl)):
		return authState{}, fmt.Errorf("state blob expired: %w", ErrState)
	case st.Method != method:
		return authState{}, fmt.Errorf("state blob for another method: %w", ErrState)
	case subtle.ConstantTimeCompare(st.Binding, bh[:]) != 1:
		return authState{}, fmt.Errorf("state blob for another binding: %w", ErrState)
	}
	return st, nil
}

// localPath returns p if it is a safe local redirect target, else "/".
func localPath(p string) string {
	if len(p) > 1024 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") ||
		strings.ContainsRune(p, '\\') || strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}

// random returns 128 random bits, base64url.
func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
