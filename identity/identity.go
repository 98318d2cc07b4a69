// Package identity verifies who a person is before they get a place in the
// queue ("identity first"). Every verification method (mobile phone, i-PIN,
// certificate, Kakao, Naver, PASS, ...) is an OpenID Connect provider; the
// Verifier is the relying party for all of them: authorization code flow with
// PKCE (S256), state and nonce, ID tokens verified by go-oidc.
//
// The Verifier keeps no per-login state: Start returns an opaque state blob
// that the gateway stores in an HttpOnly cookie and hands back to Finish.
// The blob is sealed with AES-256-GCM, so it is both authenticated (it cannot
// be forged or altered) and confidential (the PKCE verifier, nonce and return
// path inside are not readable by the browser).
//
// The only identifier kept about a person is Person.Hash, a keyed hash of the
// claim each method names as its person claim: by default "ci", Korea's
// connecting information (연계정보), which every identity verification agency
// gives the same person, so "one place per person" holds whichever method is
// used. A provider's "sub" is its own identifier of the person (another for
// every provider and often for every client), so a method keyed by "sub"
// cannot tell that two verifications at two providers are one person.
// A verification whose ID token lacks the person claim is refused
// (ErrNoPersonClaim), never keyed by something weaker.
//
// Nothing personal (subjects, tokens, birth dates) is logged or put in errors.
package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/eligibility"
)

// Errors returned by Start and Finish, wrapped with context; test them with
// errors.Is.
var (
	// ErrUnknownMethod: no method has that name.
	ErrUnknownMethod = errors.New("unknown verification method")
	// ErrDisabled: the method is configured but switched off.
	ErrDisabled = errors.New("verification method disabled")
	// ErrState: the state blob is missing, forged, expired, or was made for
	// another method or another binding, or the callback's state does not
	// match it. The person must start again.
	ErrState = errors.New("invalid verification state")
	// ErrDenied: the provider reports that the person declined or could not
	// log in (access_denied, login_required, consent_required, ...).
	ErrDenied = errors.New("verification denied")
	// ErrProvider: the provider is unreachable, slow, answers 5xx, reports
	// a server-side or configuration error, or its token endpoint fails
	// for a reason other than a rejected code. It says something about the
	// provider's health, not about the person.
	ErrProvider = errors.New("verification provider unavailable")
	// ErrToken: the callback does not prove an identity: the code was
	// rejected by the provider (invalid_grant: replayed, expired, issued by
	// another provider or for another PKCE verifier), the ID token is
	// missing or invalid (issuer, audience, expiry, signature, algorithm,
	// nonce), or a required claim (sub, birthdate) is missing or malformed.
	ErrToken = errors.New("invalid identity token")
	// ErrNoPersonClaim: the ID token is valid but lacks the method's person
	// claim (MethodConfig.PersonClaim), or it is not a non-empty string of
	// at most MaxPersonClaim bytes. The method cannot tell who the person is
	// across providers (typically a login without identity verification, or
	// a provider not configured to release CI): the person must pick
	// another method. It is also a provider configuration problem.
	ErrNoPersonClaim = errors.New("identity token lacks the person claim")
)

// Defaults for Options.
const (
	DefaultStateTTL    = 10 * time.Minute
	DefaultHTTPTimeout = 5 * time.Second
	// RediscoverEvery is the least time between two discovery attempts of a
	// provider whose discovery failed; meanwhile Start fails at once.
	RediscoverEvery = 5 * time.Second
	// DefaultPersonClaim is the person claim of a method that names none:
	// Korea's connecting information (CI).
	DefaultPersonClaim = "ci"
	// MaxPersonClaim bounds a person claim's value in bytes (a CI is 88).
	MaxPersonClaim = 512
)

// MethodConfig describes one verification method, an OpenID Connect
// provider.
type MethodConfig struct {
	// Name identifies the method in URLs and logs: [a-z0-9_-]{1,32}.
	Name string
	// Label is shown to people, e.g. "카카오 인증". Required.
	Label string
	// LabelEn is the label on English pages, e.g. "Kakao". Default Label.
	LabelEn string
	// Issuer is the provider's issuer URL; discovery is at
	// Issuer + "/.well-known/openid-configuration". Required if Enabled.
	Issuer string
	// ClientID and ClientSecret are the gateway's credentials at the
	// provider. Required if Enabled.
	ClientID, ClientSecret string
	// RedirectURL is the gateway's callback for this method, e.g.
	// "https://host/waitroom/auth/kakao/callback". Required if Enabled.
	RedirectURL string
	// PersonClaim names the ID token claim that identifies a person across
	// every provider: a top-level string claim, [A-Za-z0-9_-]{1,64}.
	// Default DefaultPersonClaim ("ci"). "sub" is accepted but identifies
	// the person at this provider only (keyed with the issuer): the same
	// person verifying with another method gets another place. Claims that
	// cannot identify a person (iss, aud, exp, nonce, name, birthdate, ...)
	// are refused by New.
	PersonClaim string
	// Capacity is how many verifications in flight the provider can take.
	// It is read by the traffic lights, not by this package. >= 0.
	Capacity int
	// Enabled methods can be used; disabled ones are still listed by
	// Methods (the page shows them as unavailable) and need only Name and
	// Label.
	Enabled bool
}

// Options configures a Verifier. The zero value of every field but Secret
// means its default.
type Options struct {
	// Secret keys the identity hash and seals the state blob (two subkeys
	// derived with HMAC-SHA256). At least 32 bytes. Changing it changes
	// every Person.Hash and voids the blobs in flight.
	Secret []byte
	// StateTTL is how long a verification may take from Start to Finish.
	// Default DefaultStateTTL.
	StateTTL time.Duration
	// HTTPClient is used for discovery, JWKS and token calls. Default: a
	// client with a DefaultHTTPTimeout timeout.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Person is a verified person.
type Person struct {
	// Hash is base64url(HMAC-SHA256(identity key, person claim)), 43
	// characters: the only identifier kept. For a method keyed by "sub" the
	// MAC also covers the issuer, so two providers' subjects never meet.
	// The raw claim is never stored, logged or returned.
	Hash string
	// BirthDate comes from the ID token's "birthdate" claim.
	BirthDate eligibility.Date
	// Method is the name of the method used.
	Method string
}

// Verifier runs verifications for the configured methods. It is safe for
// concurrent use.
type Verifier struct {
	methods     []*method
	byName      map[string]*method
	identityKey []byte
	aead        cipher.AEAD // seals state blobs
	ttl         time.Duration
	http        *http.Client
	now         func() time.Time
}

// method is a configured method and its provider, discovered on first use.
type method struct {
	cfg    MethodConfig
	ready  atomic.Pointer[client] // nil until discovery succeeded
	mu     sync.Mutex             // serialises discovery
	failed time.Time              // last failed discovery
}

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	claimRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// notPersonClaims are the standard ID token claims that do not identify a
// person: a method keyed by one would merge strangers.
var notPersonClaims = []string{"iss", "aud", "exp", "iat", "nbf", "nonce", "azp", "auth_time", "at_hash", "c_hash",
	"acr", "amr", "sid", "jti", "name", "given_name", "family_name", "nickname", "birthdate", "gender", "locale", "zoneinfo"}

// New validates methods and o, reporting every problem at once. It does not
// contact the providers: one may be down when the gateway starts.
func New(methods []MethodConfig, o Options) (*Verifier, error) {
	var errs []error
	if len(o.Secret) < 32 {
		errs = append(errs, errors.New("secret: want at least 32 bytes"))
	}
	if o.StateTTL < 0 {
		errs = append(errs, errors.New("state ttl: must be >= 0"))
	}
	if len(methods) == 0 {
		errs = append(errs, errors.New("no methods"))
	}
	v := &Verifier{
		byName:      make(map[string]*method, len(methods)),
		identityKey: subkey(o.Secret, "identity"),
		ttl:         o.StateTTL,
		http:        o.HTTPClient,
		now:         o.Now,
	}
	for i, c := range methods {
		switch {
		case !nameRE.MatchString(c.Name):
			errs = append(errs, fmt.Errorf("methods[%d]: name %q: want [a-z0-9_-]{1,32}", i, c.Name))
		case v.byName[c.Name] != nil:
			errs = append(errs, fmt.Errorf("methods[%d]: duplicate name %q", i, c.Name))
		}
		if c.Label == "" {
			errs = append(errs, fmt.Errorf("methods[%d]: label is required", i))
		}
		if c.Capacity < 0 {
			errs = append(errs, fmt.Errorf("methods[%d]: capacity must be >= 0", i))
		}
		if c.LabelEn == "" {
			c.LabelEn = c.Label
		}
		if c.PersonClaim == "" {
			c.PersonClaim = DefaultPersonClaim
		}
		if !claimRE.MatchString(c.PersonClaim) || slices.Contains(notPersonClaims, c.PersonClaim) {
			errs = append(errs, fmt.Errorf("methods[%d]: person claim %.70q: want a claim that identifies a person, such as ci", i, c.PersonClaim))
		}
		if c.Enabled {
			if !absHTTP(c.Issuer) {
				errs = append(errs, fmt.Errorf("methods[%d]: issuer %q: want an absolute http(s) URL", i, c.Issuer))
			}
			if !absHTTP(c.RedirectURL) {
				errs = append(errs, fmt.Errorf("methods[%d]: redirect url %q: want an absolute http(s) URL", i, c.RedirectURL))
			}
			if c.ClientID == "" || c.ClientSecret == "" {
				errs = append(errs, fmt.Errorf("methods[%d]: client id and secret are required", i))
			}
		}
		m := &method{cfg: c}
		v.methods = append(v.methods, m)
		v.byName[c.Name] = m
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	block, err := aes.NewCipher(subkey(o.Secret, "state"))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if v.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if v.ttl == 0 {
		v.ttl = DefaultStateTTL
	}
	if v.http == nil {
		v.http = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Methods returns the configured methods in configured order, with their
// defaults filled in (LabelEn, PersonClaim) and ClientSecret blanked so that
// the result can be rendered or logged.
func (v *Verifier) Methods() []MethodConfig {
	out := make([]MethodConfig, len(v.methods))
	for i, m := range v.methods {
		out[i] = m.cfg
		out[i].ClientSecret = ""
	}
	return out
}

// lookup returns the enabled method called name.
func (v *Verifier) lookup(name string) (*method, error) {
	m := v.byName[name]
	switch {
	case m == nil:
		return nil, fmt.Errorf("identity: method %.32q: %w", name, ErrUnknownMethod)
	case !m.cfg.Enabled:
		return nil, fmt.Errorf("identity: %s: %w", name, ErrDisabled)
	}
	return m, nil
}

// hash is Person.Hash of the value of m's person claim. The MAC input is
// prefixed so that the two kinds of key cannot collide: "p" and the value
// for a claim shared across providers (whatever its name, so methods naming
// CI differently still agree), "s", the issuer and the value for "sub".
func (v *Verifier) hash(m *method, value string) string {
	mac := hmac.New(sha256.New, v.identityKey)
	if m.cfg.PersonClaim == "sub" {
		mac.Write([]byte("s\x00" + m.cfg.Issuer + "\x00"))
	} else {
		mac.Write([]byte("p\x00"))
	}
	mac.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func subkey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

func absHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}
