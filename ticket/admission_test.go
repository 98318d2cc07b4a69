package ticket_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/ticket"
)

var (
	edKey1        = ticket.EdKey{ID: "ed1", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))}
	edKey2        = ticket.EdKey{ID: "ed2", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))}
	admissionOpts = ticket.AdmissionOptions{Issuer: "https://wait.example", Audience: "https://booking.example"}
)

// testRoom is the room of testAdmission.
const testRoom = "vaccine"

func testAdmission() ticket.Admission {
	dev := ticket.DeviceHash(device)
	return ticket.Admission{
		Subject:  enc.EncodeToString(testQueue.Subject[:]),
		Device:   enc.EncodeToString(dev[:]),
		Room:     testRoom,
		Position: testQueue.Position,
		Method:   "pass",
	}
}

func mustAdmissionKeys(tb testing.TB, o ticket.AdmissionOptions, keys ...ticket.EdKey) *ticket.AdmissionKeys {
	tb.Helper()
	k, err := ticket.NewAdmissionKeys(keys, o)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustAdmit(tb testing.TB, k *ticket.AdmissionKeys, now time.Time) string {
	tb.Helper()
	tok, _, err := k.Issue(testAdmission(), now)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// signAdmission builds a token with golang-jwt, as an attacker or a foreign
// issuer would; kid is omitted when empty.
func signAdmission(tb testing.TB, m jwt.SigningMethod, kid string, claims jwt.MapClaims, key any) string {
	tb.Helper()
	t := jwt.NewWithClaims(m, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func admissionClaims() jwt.MapClaims {
	a := testAdmission()
	return jwt.MapClaims{
		"iss": admissionOpts.Issuer, "aud": admissionOpts.Audience, "sub": a.Subject, "dev": a.Device,
		"room": a.Room, "pos": a.Position, "jti": "c2Vzc2lvbi1pZC0wMDAwMA", "iat": testNow.Unix(), "exp": testNow.Add(time.Minute).Unix(),
	}
}

func TestNewAdmissionKeys(t *testing.T) {
	for _, tt := range []struct {
		name string
		keys []ticket.EdKey
		o    ticket.AdmissionOptions
	}{
		{"NoKey", nil, admissionOpts},
		{"DuplicateKid", []ticket.EdKey{edKey1, {ID: "ed1", Private: edKey2.Private}}, admissionOpts},
		{"InvalidKid", []ticket.EdKey{{ID: "a/b", Private: edKey1.Private}}, admissionOpts},
		{"ShortKey", []ticket.EdKey{{ID: "ed1", Private: edKey1.Private[:32]}}, admissionOpts},
		{"NoIssuer", []ticket.EdKey{edKey1}, ticket.AdmissionOptions{Audience: "a"}},
		{"NoAudience", []ticket.EdKey{edKey1}, ticket.AdmissionOptions{Issuer: "i"}},
		{"NegativeTTL", []ticket.EdKey{edKey1}, ticket.AdmissionOptions{Issuer: "i", Audience: "a", TTL: -time.Minute}},
		{"NegativeLeeway", []ticket.EdKey{edKey1}, ticket.AdmissionOptions{Issuer: "i", Audience: "a", Leeway: -time.Second}},
		{"LeewayTooLong", []ticket.EdKey{edKey1}, ticket.AdmissionOptions{Issuer: "i", Audience: "a", Leeway: ticket.MaxAdmissionLeeway + time.Second}},
		{"LeewayFraction", []ticket.EdKey{edKey1}, ticket.AdmissionOptions{Issuer: "i", Audience: "a", Leeway: 1500 * time.Millisecond}},
	} {
		t.Run("Err"+tt.name, func(t *testing.T) {
			if _, err := ticket.NewAdmissionKeys(tt.keys, tt.o); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestAdmissionKeys_Issue(t *testing.T) {
	k := mustAdmissionKeys(t, admissionOpts, edKey1, edKey2)
	t.Run("OK", func(t *testing.T) {
		tok, claims, err := k.Issue(testAdmission(), testNow.Add(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if !claims.IssuedAt.Equal(testNow) || !claims.Expiry.Equal(testNow.Add(ticket.DefaultAdmissionTTL)) || len(claims.ID) != 22 {
			t.Fatalf("claims %+v", claims)
		}
		got, err := k.Verify([]byte(tok), device, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if !got.IssuedAt.Equal(claims.IssuedAt) || !got.Expiry.Equal(claims.Expiry) {
			t.Fatalf("times %v %v, want %v %v", got.IssuedAt, got.Expiry, claims.IssuedAt, claims.Expiry)
		}
		got.IssuedAt, got.Expiry, claims.IssuedAt, claims.Expiry = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != claims {
			t.Fatalf("got %+v, want %+v", got, claims)
		}
		if _, again, _ := k.Issue(testAdmission(), testNow); again.ID == claims.ID {
			t.Fatal("two tokens with the same jti")
		}
	})
	t.Run("OKNoMethod", func(t *testing.T) {
		a := testAdmission()
		a.Method = ""
		tok, _, err := k.Issue(a, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(payloadOf(t, tok), "method") {
			t.Fatal("empty method written")
		}
	})
	t.Run("ErrClaims", func(t *testing.T) {
		a := testAdmission()
		a.Room = ""
		if _, _, err := k.Issue(a, testNow); !errors.Is(err, ticket.ErrClaims) {
			t.Fatalf("err = %v, want ErrClaims", err)
		}
	})
}

// A backend that knows only the JWKS document verifies tokens with golang-jwt.
func TestAdmissionKeys_JWKS(t *testing.T) {
	k := mustAdmissionKeys(t, admissionOpts, edKey1, edKey2)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys, want 2", len(set.Keys))
	}
	keys := map[string]ed25519.PublicKey{}
	for _, j := range set.Keys {
		if j["kty"] != "OKP" || j["crv"] != "Ed25519" || j["use"] != "sig" || j["alg"] != "EdDSA" {
			t.Fatalf("jwk %v", j)
		}
		x, err := enc.DecodeString(j["x"])
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("x %q: %v", j["x"], err)
		}
		keys[j["kid"]] = x
	}
	tok := mustAdmit(t, k, testNow)
	parsed, err := jwt.Parse(tok, func(t *jwt.Token) (any, error) {
		if key, ok := keys[t.Header["kid"].(string)]; ok {
			return key, nil
		}
		return nil, errors.New("unknown kid")
	},
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(admissionOpts.Issuer),
		jwt.WithAudience(admissionOpts.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return testNow }),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parsed.Header["kid"], "ed1"; got != want {
		t.Fatalf("kid = %v, want %v", got, want)
	}
	if got, want := parsed.Claims.(jwt.MapClaims)["room"], "vaccine"; got != want {
		t.Fatalf("room = %v, want %v", got, want)
	}
	j := k.JWKS()
	j[0] = 'x'
	if k.JWKS()[0] != '{' {
		t.Fatal("JWKS shares its buffer")
	}
}

// TestAdmissionKeys_Verify runs every case through Verify and through Check
// on keys that have not seen the token: both must agree.
func TestAdmissionKeys_Verify(t *testing.T) {
	k := mustAdmissionKeys(t, admissionOpts, edKey1)
	valid := mustAdmit(t, k, testNow)
	pub := edKey1.Private.Public().(ed25519.PublicKey)
	other := func(o ticket.AdmissionOptions) string { return mustAdmit(t, mustAdmissionKeys(t, o, edKey1), testNow) }
	without := func(claim string) jwt.MapClaims {
		c := admissionClaims()
		delete(c, claim)
		return c
	}
	parts := strings.Split(valid, ".")

	for _, tt := range []struct {
		name  string
		token string
		dev   []byte
		now   time.Time
		want  error
	}{
		{"OK", valid, device, testNow, nil},
		{"OKLastSecond", valid, device, testNow.Add(ticket.DefaultAdmissionTTL - time.Nanosecond), nil},
		{"OKSignedByGolangJWT", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", admissionClaims(), edKey1.Private), device, testNow, nil},
		{"ErrExpired", valid, device, testNow.Add(ticket.DefaultAdmissionTTL), ticket.ErrExpired},
		{"ErrUsedBeforeIssued", valid, device, testNow.Add(-time.Second), ticket.ErrClaims},
		{"ErrDevice", valid, []byte("device-two"), testNow, ticket.ErrDevice},
		{"ErrAlgNone", signAdmission(t, jwt.SigningMethodNone, "ed1", admissionClaims(), jwt.UnsafeAllowNoneSignatureType), device, testNow, ticket.ErrAlgorithm},
		{"ErrHS256WithPublicKey", signAdmission(t, jwt.SigningMethodHS256, "ed1", admissionClaims(), []byte(pub)), device, testNow, ticket.ErrAlgorithm},
		{"ErrWrongKey", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", admissionClaims(), edKey2.Private), device, testNow, ticket.ErrSignature},
		{"ErrTamperedPayload", parts[0] + "." + enc.EncodeToString([]byte(strings.Replace(payloadOf(t, valid), `"pos":1234567`, `"pos":1`, 1))) + "." + parts[2], device, testNow, ticket.ErrSignature},
		{"ErrAudience", other(ticket.AdmissionOptions{Issuer: admissionOpts.Issuer, Audience: "https://other.example"}), device, testNow, ticket.ErrClaims},
		{"ErrIssuer", other(ticket.AdmissionOptions{Issuer: "https://evil.example", Audience: admissionOpts.Audience}), device, testNow, ticket.ErrClaims},
		{"ErrMissingKid", signAdmission(t, jwt.SigningMethodEdDSA, "", admissionClaims(), edKey1.Private), device, testNow, ticket.ErrKey},
		{"ErrUnknownKid", mustAdmit(t, mustAdmissionKeys(t, admissionOpts, edKey2), testNow), device, testNow, ticket.ErrKey},
		{"ErrMissingExp", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("exp"), edKey1.Private), device, testNow, ticket.ErrClaims},
		{"ErrMissingIat", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("iat"), edKey1.Private), device, testNow, ticket.ErrClaims},
		{"ErrMissingJti", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("jti"), edKey1.Private), device, testNow, ticket.ErrClaims},
		{"ErrMissingDev", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("dev"), edKey1.Private), device, testNow, ticket.ErrClaims},
		{"ErrMissingRoom", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("room"), edKey1.Private), device, testNow, ticket.ErrClaims},
		{"ErrTooLarge", valid + strings.Repeat("A", ticket.MaxTokenSize), device, testNow, ticket.ErrTooLarge},
		{"ErrGarbage", "garbage", device, testNow, ticket.ErrMalformed},
		{"ErrEmpty", "", device, testNow, ticket.ErrMalformed},
		{"ErrTooManyDots", valid + ".x", device, testNow, ticket.ErrMalformed},
		{"ErrQueueTicket", mustIssue(t, mustQueueCodec(t, queueOpts, key1), testQueue, ""), device, testNow, ticket.ErrAlgorithm},
		{"OKLifetimeAtTTL", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", lifetime(ticket.DefaultAdmissionTTL), edKey1.Private), device, testNow, nil},
		{"ErrLifetime", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", lifetime(ticket.DefaultAdmissionTTL+time.Second), edKey1.Private), device, testNow, ticket.ErrLifetime},
		{"ErrLifetimeOtherGateway", other(ticket.AdmissionOptions{Issuer: admissionOpts.Issuer, Audience: admissionOpts.Audience, TTL: time.Hour}), device, testNow, ticket.ErrLifetime},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.Verify([]byte(tt.token), tt.dev, tt.now)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Verify: err = %v, want %v", err, tt.want)
			}
			fresh := mustAdmissionKeys(t, admissionOpts, edKey1)
			if err := check(fresh, []byte(tt.token), tt.dev, tt.now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Check: err = %v, want %v", err, tt.want)
			}
		})
	}
	// Callers that tell the client what is wrong tell these apart.
	t.Run("WrapsGolangJWT", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			token string
			now   time.Time
			want  error
		}{
			{"Expired", valid, testNow.Add(time.Hour), jwt.ErrTokenExpired},
			{"Audience", other(ticket.AdmissionOptions{Issuer: admissionOpts.Issuer, Audience: "https://other.example"}), testNow, jwt.ErrTokenInvalidAudience},
			{"Issuer", other(ticket.AdmissionOptions{Issuer: "https://evil.example", Audience: admissionOpts.Audience}), testNow, jwt.ErrTokenInvalidIssuer},
			{"MissingAud", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("aud"), edKey1.Private), testNow, jwt.ErrTokenRequiredClaimMissing},
			{"MissingSub", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("sub"), edKey1.Private), testNow, jwt.ErrTokenRequiredClaimMissing},
			{"MissingJti", signAdmission(t, jwt.SigningMethodEdDSA, "ed1", without("jti"), edKey1.Private), testNow, jwt.ErrTokenRequiredClaimMissing},
			{"UsedBeforeIssued", valid, testNow.Add(-time.Second), jwt.ErrTokenUsedBeforeIssued},
		} {
			if _, err := k.Verify([]byte(tt.token), device, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("%s: err = %v, want it to wrap %v", tt.name, err, tt.want)
			}
		}
		c := admissionClaims()
		c["jti"] = "short"
		if _, err := k.Verify([]byte(signAdmission(t, jwt.SigningMethodEdDSA, "ed1", c, edKey1.Private)), device, testNow); !errors.Is(err, ticket.ErrClaims) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
			t.Errorf("malformed jti: err = %v, want ErrClaims that is not a missing claim", err)
		}
	})
}

// lifetime returns the test claims with exp - iat = d.
func lifetime(d time.Duration) jwt.MapClaims {
	c := admissionClaims()
	c["exp"] = testNow.Add(d).Unix()
	return c
}

func TestAdmissionKeys_Check(t *testing.T) {
	k := mustAdmissionKeys(t, admissionOpts, edKey1)
	tok := []byte(mustAdmit(t, k, testNow))
	if err := check(k, tok, device, testNow); err != nil {
		t.Fatal(err)
	}
	t.Run("OKHit", func(t *testing.T) {
		// A hit does not allocate; a full verification would.
		if got := testing.AllocsPerRun(100, func() {
			if err := check(k, tok, device, testNow.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}); got != 0 {
			t.Fatalf("allocs = %v, want 0", got)
		}
	})
	for _, tt := range []struct {
		name string
		dev  []byte
		now  time.Time
		want error
	}{
		{"OKLastSecond", device, testNow.Add(ticket.DefaultAdmissionTTL - time.Nanosecond), nil},
		{"ErrExpired", device, testNow.Add(ticket.DefaultAdmissionTTL), ticket.ErrExpired},
		{"ErrDevice", []byte("device-two"), testNow, ticket.ErrDevice},
		{"ErrUsedBeforeIssued", device, testNow.Add(-time.Nanosecond), ticket.ErrClaims},
	} {
		t.Run(tt.name+"OnHit", func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(10, func() { err = check(k, tok, tt.dev, tt.now) })
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if allocs != 0 {
				t.Fatalf("allocs = %v: not a cache hit", allocs)
			}
		})
	}
	t.Run("ErrRoomOnHit", func(t *testing.T) {
		var err error
		allocs := testing.AllocsPerRun(10, func() { _, err = k.Check(tok, device, "concert", testNow) })
		if !errors.Is(err, ticket.ErrRoom) || !errors.Is(err, ticket.ErrClaims) {
			t.Fatalf("err = %v, want ErrRoom (an ErrClaims)", err)
		}
		if allocs != 0 {
			t.Fatalf("allocs = %v: not a cache hit", allocs)
		}
	})
	t.Run("ErrRoomUnseen", func(t *testing.T) {
		other := []byte(mustAdmit(t, k, testNow))
		for range 2 { // refused, and not cached for the room it was issued for either way
			if _, err := k.Check(other, device, "concert", testNow); !errors.Is(err, ticket.ErrRoom) {
				t.Fatalf("err = %v, want ErrRoom", err)
			}
		}
		if err := check(k, other, device, testNow); err != nil {
			t.Fatalf("its own room: %v", err)
		}
	})
	t.Run("ErrForgedUnseen", func(t *testing.T) {
		parts := strings.Split(string(tok), ".")
		forged := parts[0] + "." + enc.EncodeToString([]byte(strings.Replace(payloadOf(t, string(tok)), `"room":"vaccine"`, `"room":"concert"`, 1))) + "." + parts[2]
		for range 2 {
			if err := check(k, []byte(forged), device, testNow); !errors.Is(err, ticket.ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
		}
	})
	t.Run("ErrNotCachedOnFailure", func(t *testing.T) {
		other := []byte(mustAdmit(t, k, testNow))
		if err := check(k, other, []byte("device-two"), testNow); !errors.Is(err, ticket.ErrDevice) {
			t.Fatalf("err = %v, want ErrDevice", err)
		}
		if got := testing.AllocsPerRun(1, func() { _ = check(k, other, []byte("device-two"), testNow) }); got == 0 {
			t.Fatal("a failed verification was cached")
		}
	})
}

func TestAdmissionKeys_Check_Concurrent(t *testing.T) {
	k := mustAdmissionKeys(t, admissionOpts, edKey1)
	toks := make([][]byte, 8)
	for i := range toks {
		toks[i] = []byte(mustAdmit(t, k, testNow))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if err := check(k, toks[(g+i)%len(toks)], device, testNow); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestGenerateDevKeys(t *testing.T) {
	hk, ek := ticket.GenerateDevKeys()
	if len(hk) != 1 || len(ek) != 1 || !strings.HasPrefix(hk[0].ID, "dev-") || len(ek[0].ID) != len("dev-")+8 {
		t.Fatalf("keys %q %q", hk[0].ID, ek[0].ID)
	}
	c := mustQueueCodec(t, queueOpts, hk...)
	if err := c.Verify([]byte(mustIssue(t, c, testQueue, "")), device, testNow, nil); err != nil {
		t.Fatal(err)
	}
	k := mustAdmissionKeys(t, admissionOpts, ek...)
	if _, err := k.Verify([]byte(mustAdmit(t, k, testNow)), device, testNow); err != nil {
		t.Fatal(err)
	}
}

func FuzzAdmissionCheck(f *testing.F) {
	k := mustAdmissionKeys(f, admissionOpts, edKey1)
	f.Add([]byte(mustAdmit(f, k, testNow)), device)
	f.Add([]byte(signAdmission(f, jwt.SigningMethodNone, "ed1", admissionClaims(), jwt.UnsafeAllowNoneSignatureType)), device)
	f.Add([]byte(".."), []byte{})
	f.Fuzz(func(t *testing.T, token, dev []byte) {
		err := check(k, token, dev, testNow)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// The cache never accepts what full verification refuses.
		if _, err := k.Verify(token, dev, testNow); err != nil {
			t.Fatalf("Check accepted %q, Verify refuses: %v", token, err)
		}
	})
}

func BenchmarkAdmissionIssue(b *testing.B) {
	k := mustAdmissionKeys(b, admissionOpts, edKey1)
	a := testAdmission()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := k.Issue(a, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAdmissionVerify(b *testing.B) {
	k := mustAdmissionKeys(b, admissionOpts, edKey1)
	tok := []byte(mustAdmit(b, k, testNow))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(tok, device, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAdmissionCheckCached(b *testing.B) {
	k := mustAdmissionKeys(b, admissionOpts, edKey1)
	tok := []byte(mustAdmit(b, k, testNow))
	if err := check(k, tok, device, testNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := check(k, tok, device, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// check is Check for the test room, without the session id.
func check(k *ticket.AdmissionKeys, token, dev []byte, now time.Time) error {
	_, err := k.Check(token, dev, testRoom, now)
	return err
}

func TestAdmissionKeys_SessionID(t *testing.T) {
	k := mustAdmissionKeys(t, admissionOpts, edKey1)
	sid := ticket.NewDeviceID()
	a := testAdmission()
	a.ID = sid
	tok, _, err := k.Issue(a, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ticket.SessionID(sid)
	for range 2 { // a miss, then a cache hit
		got, err := k.Check([]byte(tok), device, a.Room, testNow)
		if err != nil || got != want {
			t.Fatalf("Check = %x, %v; want session %x", got, err, want)
		}
	}
	a.ID = "not-an-id"
	if _, _, err := k.Issue(a, testNow); !errors.Is(err, ticket.ErrClaims) {
		t.Fatalf("Issue with a bad session id: %v, want ErrClaims", err)
	}
}

// Key rotation: a key with a SignFrom is published and verifies at once, and
// signs once SignFrom has passed; the first key that may sign does.
func TestAdmissionKeys_SignFrom(t *testing.T) {
	next := edKey2
	next.SignFrom = testNow.Add(time.Hour)
	k := mustAdmissionKeys(t, admissionOpts, next, edKey1)
	if jwks := string(k.JWKS()); !strings.Contains(jwks, `"kid":"ed2"`) || !strings.Contains(jwks, `"kid":"ed1"`) {
		t.Fatalf("JWKS %s lacks a key", jwks)
	}
	for _, tt := range []struct {
		name string
		now  time.Time
		kid  string
	}{
		{"Before", testNow, "ed1"},
		{"LastSecondBefore", next.SignFrom.Add(-time.Nanosecond), "ed1"},
		{"At", next.SignFrom, "ed2"},
		{"After", next.SignFrom.Add(time.Hour), "ed2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := mustAdmit(t, k, tt.now)
			if got := headerKid(t, tok); got != tt.kid {
				t.Fatalf("signed by %q, want %q", got, tt.kid)
			}
			if _, err := k.Verify([]byte(tok), device, tt.now); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A token of the next key, signed by a gateway whose clock runs ahead,
	// verifies before SignFrom.
	early := mustAdmit(t, mustAdmissionKeys(t, admissionOpts, edKey2), testNow)
	if _, err := k.Verify([]byte(early), device, testNow); err != nil {
		t.Fatalf("token of a published key before its SignFrom: %v", err)
	}
	t.Run("ErrNoSigner", func(t *testing.T) {
		k := mustAdmissionKeys(t, admissionOpts, next)
		if _, _, err := k.Issue(testAdmission(), testNow); !errors.Is(err, ticket.ErrNoSigner) {
			t.Fatalf("err = %v, want ErrNoSigner", err)
		}
	})
}

func headerKid(tb testing.TB, tok string) string {
	tb.Helper()
	h, err := enc.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(h, &hdr); err != nil {
		tb.Fatal(err)
	}
	return hdr.Kid
}

// A backend holds only the public keys: it verifies what the gateway signs
// and cannot sign itself.
func TestNewAdmissionVerifier(t *testing.T) {
	gw := mustAdmissionKeys(t, admissionOpts, edKey1, edKey2)
	pubs := []ticket.EdPublicKey{
		{ID: "ed1", Public: edKey1.Private.Public().(ed25519.PublicKey)},
		{ID: "ed2", Public: edKey2.Private.Public().(ed25519.PublicKey)},
	}
	v, err := ticket.NewAdmissionVerifier(pubs, admissionOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.JWKS(), gw.JWKS()) {
		t.Fatalf("JWKS %s, want the gateway's %s", v.JWKS(), gw.JWKS())
	}
	if _, err := v.Verify([]byte(mustAdmit(t, gw, testNow)), device, testNow); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Issue(testAdmission(), testNow); !errors.Is(err, ticket.ErrNoSigner) {
		t.Fatalf("Issue: err = %v, want ErrNoSigner", err)
	}
	for name, keys := range map[string][]ticket.EdPublicKey{
		"None":      nil,
		"ShortKey":  {{ID: "ed1", Public: pubs[0].Public[:31]}},
		"Duplicate": {pubs[0], {ID: "ed1", Public: pubs[1].Public}},
		"BadKid":    {{ID: "", Public: pubs[0].Public}},
	} {
		if _, err := ticket.NewAdmissionVerifier(keys, admissionOpts); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// With a leeway, Verify and Check (miss and hit) accept the same window:
// [iat - leeway, exp + leeway).
func TestAdmissionKeys_Leeway(t *testing.T) {
	o := admissionOpts
	o.Leeway = 5 * time.Second
	gw := mustAdmissionKeys(t, admissionOpts, edKey1)
	tok := []byte(mustAdmit(t, gw, testNow))
	exp := testNow.Add(ticket.DefaultAdmissionTTL)
	for _, tt := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"OKEarly", testNow.Add(-5 * time.Second), nil},
		{"ErrTooEarly", testNow.Add(-5*time.Second - time.Nanosecond), ticket.ErrClaims},
		{"OKLate", exp.Add(5*time.Second - time.Nanosecond), nil},
		{"ErrExpired", exp.Add(5 * time.Second), ticket.ErrExpired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := mustAdmissionKeys(t, o, edKey1)
			if _, err := k.Verify(tok, device, tt.now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Verify: err = %v, want %v", err, tt.want)
			}
			if err := check(k, tok, device, tt.now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Check (miss): err = %v, want %v", err, tt.want)
			}
			if err := check(k, tok, device, testNow); err != nil { // now cached
				t.Fatal(err)
			}
			if err := check(k, tok, device, tt.now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Check (hit): err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAdmissionKeys_CheckClaims(t *testing.T) {
	k := mustAdmissionKeys(t, admissionOpts, edKey1)
	tok, want, err := k.Issue(testAdmission(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's Check caches no claims: CheckClaims then verifies again
	// and keeps them.
	if err := check(k, []byte(tok), device, testNow); err != nil {
		t.Fatal(err)
	}
	first, err := k.CheckClaims([]byte(tok), device, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if *first != want {
		t.Fatalf("claims %+v, want %+v", *first, want)
	}
	var again *ticket.Admission
	b := []byte(tok)
	allocs := testing.AllocsPerRun(10, func() { again, err = k.CheckClaims(b, device, testNow) })
	if err != nil || again != first {
		t.Fatalf("hit: %p, %v; want the cached %p", again, err, first)
	}
	if allocs != 0 && !raceEnabled {
		t.Fatalf("hit allocates %v times", allocs)
	}
	for name, tt := range map[string]struct {
		dev  []byte
		now  time.Time
		want error
	}{
		"ErrDevice":  {[]byte("device-two"), testNow, ticket.ErrDevice},
		"ErrExpired": {device, want.Expiry, ticket.ErrExpired},
	} {
		if a, err := k.CheckClaims([]byte(tok), tt.dev, tt.now); a != nil || !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, %v; want nil, %v", name, a, err, tt.want)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	_, ek := ticket.GenerateDevKeys()
	k, err := ticket.NewAdmissionKeys(ek, ticket.AdmissionOptions{Issuer: "waitroom", Audience: "booking", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ticket.ParseJWKS(k.JWKS())
	if err != nil || len(keys) != 1 || keys[0].ID != ek[0].ID || !bytes.Equal(keys[0].Public, ek[0].Private.Public().(ed25519.PublicKey)) {
		t.Fatalf("ParseJWKS(JWKS()) = %+v, %v; want the one key back", keys, err)
	}
	for _, bad := range []string{
		`not json`,
		`{"keys":[]}`,
		`{"keys":[{"kty":"RSA","n":"x","e":"AQAB","kid":"r"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"short","kid":"k"}]}`,
	} {
		if _, err := ticket.ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted it", bad)
		}
	}
}
