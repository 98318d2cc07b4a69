package ticket_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/ticket"
)

var (
	testNow   = time.Unix(1_628_506_800, 0) // 2021-08-09 20:00 KST
	key1      = ticket.HMACKey{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}
	key2      = ticket.HMACKey{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}
	queueOpts = ticket.QueueOptions{Issuer: "https://wait.example", Room: "vaccine", Epoch: "ep-1", TTL: time.Hour}
	device    = []byte("device-one")
	testQueue = ticket.Queue{Subject: [16]byte{1, 2, 3}, Device: ticket.DeviceHash(device), Position: 1_234_567}
	enc       = base64.RawURLEncoding
)

// sentinels are all the errors verification may return.
var sentinels = []error{
	ticket.ErrMalformed, ticket.ErrTooLarge, ticket.ErrAlgorithm, ticket.ErrKey, ticket.ErrSignature,
	ticket.ErrExpired, ticket.ErrClaims, ticket.ErrStale, ticket.ErrDevice,
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func mustQueueCodec(tb testing.TB, o ticket.QueueOptions, keys ...ticket.HMACKey) *ticket.QueueCodec {
	tb.Helper()
	c, err := ticket.NewQueueCodec(keys, o)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func mustIssue(tb testing.TB, c *ticket.QueueCodec, q ticket.Queue, ret string) string {
	tb.Helper()
	tok, err := c.Issue(q, ret, testNow)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// hs256 hand-builds a token from a header and payload JSON signed with secret.
func hs256(header, payload string, secret []byte) string {
	s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

// payloadOf returns the decoded payload of tok.
func payloadOf(tb testing.TB, tok string) string {
	tb.Helper()
	p, err := enc.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		tb.Fatal(err)
	}
	return string(p)
}

// orderedClaims is a queue payload in the codec's key order, for building
// tickets with golang-jwt.
type orderedClaims struct {
	Iss  string `json:"iss"`
	Aud  string `json:"aud"`
	Room string `json:"room"`
	Ep   string `json:"ep"`
	Sub  string `json:"sub"`
	Dev  string `json:"dev"`
	Pos  int64  `json:"pos"`
	Iat  int64  `json:"iat"`
	Exp  int64  `json:"exp"`
}

func (orderedClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (orderedClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (orderedClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (orderedClaims) GetIssuer() (string, error)                   { return "", nil }
func (orderedClaims) GetSubject() (string, error)                  { return "", nil }
func (orderedClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

func validClaims() orderedClaims {
	dev := ticket.DeviceHash(device)
	return orderedClaims{
		Iss: queueOpts.Issuer, Aud: ticket.QueueAudience, Room: queueOpts.Room, Ep: queueOpts.Epoch,
		Sub: enc.EncodeToString(testQueue.Subject[:]), Dev: enc.EncodeToString(dev[:]),
		Pos: testQueue.Position, Iat: testNow.Unix(), Exp: testNow.Add(time.Hour).Unix(),
	}
}

func golangJWT(tb testing.TB, c orderedClaims, kid string, secret []byte) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = kid
	s, err := t.SignedString(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestNewQueueCodec(t *testing.T) {
	for _, tt := range []struct {
		name string
		keys []ticket.HMACKey
		o    func(*ticket.QueueOptions)
	}{
		{"NoKey", nil, nil},
		{"ShortSecret", []ticket.HMACKey{{ID: "k", Secret: make([]byte, 31)}}, nil},
		{"DuplicateKid", []ticket.HMACKey{key1, {ID: "k1", Secret: key2.Secret}}, nil},
		{"EmptyKid", []ticket.HMACKey{{ID: "", Secret: key1.Secret}}, nil},
		{"KidWithQuote", []ticket.HMACKey{{ID: `k"1`, Secret: key1.Secret}}, nil},
		{"LongKid", []ticket.HMACKey{{ID: strings.Repeat("k", 65), Secret: key1.Secret}}, nil},
		{"NoIssuer", []ticket.HMACKey{key1}, func(o *ticket.QueueOptions) { o.Issuer = "" }},
		{"NoRoom", []ticket.HMACKey{key1}, func(o *ticket.QueueOptions) { o.Room = "" }},
		{"NoEpoch", []ticket.HMACKey{key1}, func(o *ticket.QueueOptions) { o.Epoch = "" }},
		{"ControlInRoom", []ticket.HMACKey{key1}, func(o *ticket.QueueOptions) { o.Room = "a\nb" }},
		{"LongIssuer", []ticket.HMACKey{key1}, func(o *ticket.QueueOptions) { o.Issuer = strings.Repeat("i", 129) }},
		{"NegativeTTL", []ticket.HMACKey{key1}, func(o *ticket.QueueOptions) { o.TTL = -time.Second }},
		{"SubSecondTTL", []ticket.HMACKey{key1}, func(o *ticket.QueueOptions) { o.TTL = time.Millisecond }},
	} {
		t.Run("Err"+tt.name, func(t *testing.T) {
			o := queueOpts
			if tt.o != nil {
				tt.o(&o)
			}
			if _, err := ticket.NewQueueCodec(tt.keys, o); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	t.Run("DefaultTTL", func(t *testing.T) {
		o := queueOpts
		o.TTL = 0
		c := mustQueueCodec(t, o, key1)
		var q ticket.Queue
		if err := c.Verify([]byte(mustIssue(t, c, testQueue, "")), device, testNow, &q); err != nil {
			t.Fatal(err)
		}
		if got, want := q.Expiry-q.IssuedAt, int64(ticket.DefaultQueueTTL/time.Second); got != want {
			t.Fatalf("ttl = %d s, want %d", got, want)
		}
	})
}

func TestQueueCodec_Issue(t *testing.T) {
	c := mustQueueCodec(t, queueOpts, key1)
	t.Run("OK", func(t *testing.T) {
		q := testQueue
		q.IssuedAt, q.Expiry = 1, 2 // ignored
		tok := mustIssue(t, c, q, "")
		if got, want := strings.Split(tok, ".")[0], enc.EncodeToString([]byte(`{"alg":"HS256","kid":"k1","typ":"JWT"}`)); got != want {
			t.Fatalf("header = %s, want %s", got, want)
		}
		var got ticket.Queue
		if err := c.Verify([]byte(tok), device, testNow, &got); err != nil {
			t.Fatal(err)
		}
		want := testQueue
		want.IssuedAt, want.Expiry = testNow.Unix(), testNow.Add(time.Hour).Unix()
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("PreQueueAndMethod", func(t *testing.T) {
		q := testQueue
		q.Position, q.PreIndex, q.Method = 0, 42, 3
		var got ticket.Queue
		if err := c.Verify([]byte(mustIssue(t, c, q, "/x")), device, testNow, &got); err != nil {
			t.Fatal(err)
		}
		if got.Position != 0 || got.PreIndex != 42 || got.Method != 3 {
			t.Fatalf("got %+v, want pre-queue index 42 and method 3", got)
		}
	})
	t.Run("Rejoin", func(t *testing.T) {
		q := testQueue
		q.Method, q.Rejoin = 2, 17
		var got ticket.Queue
		if err := c.Verify([]byte(mustIssue(t, c, q, "")), device, testNow, &got); err != nil {
			t.Fatal(err)
		}
		if got.Position != testQueue.Position || got.Rejoin != 17 || got.Method != 2 {
			t.Fatalf("got %+v, want rejoin index 17 beside the position", got)
		}
		q.Rejoin = -1
		if _, err := c.Issue(q, "", testNow); !errors.Is(err, ticket.ErrClaims) {
			t.Fatalf("negative rejoin index: err = %v, want ErrClaims", err)
		}
	})
	t.Run("ErrNegativePosition", func(t *testing.T) {
		q := testQueue
		q.Position = -1
		if _, err := c.Issue(q, "", testNow); !errors.Is(err, ticket.ErrClaims) {
			t.Fatalf("err = %v, want ErrClaims", err)
		}
	})
}

// A queue ticket is a standard JWT: golang-jwt verifies it with the strict
// options a third party would use.
func TestQueueCodec_Issue_StandardJWT(t *testing.T) {
	c := mustQueueCodec(t, queueOpts, key1)
	tok := mustIssue(t, c, testQueue, `/book?"x"`)
	parsed, err := jwt.Parse(tok, func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != "k1" {
			return nil, errors.New("unknown kid")
		}
		return key1.Secret, nil
	},
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuer(queueOpts.Issuer),
		jwt.WithAudience(ticket.QueueAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return testNow }),
	)
	if err != nil {
		t.Fatal(err)
	}
	claims := parsed.Claims.(jwt.MapClaims)
	dev := ticket.DeviceHash(device)
	for k, want := range map[string]any{
		"room": "vaccine", "ep": "ep-1", "pos": float64(1_234_567), "ret": `/book?"x"`,
		"sub": enc.EncodeToString(testQueue.Subject[:]), "dev": enc.EncodeToString(dev[:]),
	} {
		if got := claims[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
}

func TestQueueCodec_Verify(t *testing.T) {
	c := mustQueueCodec(t, queueOpts, key1)
	valid := mustIssue(t, c, testQueue, "")
	parts := strings.Split(valid, ".")
	payload := payloadOf(t, valid)
	header := func(h string) string { return enc.EncodeToString([]byte(h)) }
	otherOpts := func(f func(*ticket.QueueOptions)) string {
		o := queueOpts
		f(&o)
		return mustIssue(t, mustQueueCodec(t, o, key1), testQueue, "")
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	wrongAud := validClaims()
	wrongAud.Aud = "booking"

	for _, tt := range []struct {
		name  string
		token string
		dev   []byte
		now   time.Time
		want  error
	}{
		{"OK", valid, device, testNow, nil},
		{"OKLastSecond", valid, device, testNow.Add(time.Hour - time.Nanosecond), nil},
		{"ErrExpired", valid, device, testNow.Add(time.Hour), ticket.ErrExpired},
		{"ErrDevice", valid, []byte("device-two"), testNow, ticket.ErrDevice},
		{"ErrDeviceEmpty", valid, nil, testNow, ticket.ErrDevice},
		{"ErrTamperedPayload", parts[0] + "." + enc.EncodeToString([]byte(strings.Replace(payload, `"pos":1234567`, `"pos":1`, 1))) + "." + parts[2], device, testNow, ticket.ErrSignature},
		{"ErrTamperedSignature", parts[0] + "." + parts[1] + "." + flip(parts[2], 0), device, testNow, ticket.ErrSignature},
		{"ErrSignaturePaddingBits", parts[0] + "." + parts[1] + "." + flip(parts[2], 42), device, testNow, ticket.ErrSignature},
		{"ErrTamperedHeader", header(`{"alg":"HS256","kid":"k1","typ":"JWT","x":1}`) + "." + parts[1] + "." + parts[2], device, testNow, ticket.ErrKey},
		{"ErrAlgNone", header(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", device, testNow, ticket.ErrAlgorithm},
		{"ErrAlgNoneWithKid", header(`{"alg":"none","kid":"k1","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], device, testNow, ticket.ErrAlgorithm},
		{"ErrRS256", header(`{"alg":"RS256","kid":"k1","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], device, testNow, ticket.ErrAlgorithm},
		{"ErrEdDSA", header(`{"alg":"EdDSA","kid":"k1","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], device, testNow, ticket.ErrAlgorithm},
		{"ErrOtherSecret", hs256(`{"alg":"HS256","kid":"k1","typ":"JWT"}`, payload, key2.Secret), device, testNow, ticket.ErrSignature},
		{"ErrOtherKid", mustIssue(t, mustQueueCodec(t, queueOpts, key2), testQueue, ""), device, testNow, ticket.ErrKey},
		{"ErrAudienceGolangJWT", golangJWT(t, wrongAud, "k1", key1.Secret), device, testNow, ticket.ErrClaims},
		{"ErrForeignLayout", hs256(`{"alg":"HS256","kid":"k1","typ":"JWT"}`, `{"aud":"waitroom-queue"}`, key1.Secret), device, testNow, ticket.ErrClaims},
		{"ErrTrailingClaim", hs256(`{"alg":"HS256","kid":"k1","typ":"JWT"}`, strings.TrimSuffix(payload, "}")+`,"x":1}`, key1.Secret), device, testNow, ticket.ErrMalformed},
		{"ErrIssuer", otherOpts(func(o *ticket.QueueOptions) { o.Issuer = "https://evil.example" }), device, testNow, ticket.ErrClaims},
		{"ErrRoom", otherOpts(func(o *ticket.QueueOptions) { o.Room = "concert" }), device, testNow, ticket.ErrClaims},
		{"ErrStale", otherOpts(func(o *ticket.QueueOptions) { o.Epoch = "ep-0" }), device, testNow, ticket.ErrStale},
		{"ErrTooLarge", valid + strings.Repeat("A", ticket.MaxTokenSize-len(valid)+1), device, testNow, ticket.ErrTooLarge},
		{"ErrTruncatedSignature", valid[:len(valid)-1], device, testNow, ticket.ErrSignature},
		{"ErrTruncatedPayload", valid[:len(parts[0])+10], device, testNow, ticket.ErrMalformed},
		{"ErrGarbage", "not a token", device, testNow, ticket.ErrMalformed},
		{"ErrEmpty", "", device, testNow, ticket.ErrMalformed},
		{"ErrDots", "..", device, testNow, ticket.ErrMalformed},
		{"ErrTooManyDots", valid + ".x", device, testNow, ticket.ErrMalformed},
		{"ErrHeaderNotBase64", "!!!." + parts[1] + "." + parts[2], device, testNow, ticket.ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := ticket.Queue{Position: -7}
			err := c.Verify([]byte(tt.token), tt.dev, tt.now, &q)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && q.Position != -7 {
				t.Fatal("Verify wrote out on failure")
			}
		})
	}
	t.Run("RotatedKeyVerifies", func(t *testing.T) {
		both := mustQueueCodec(t, queueOpts, key2, key1)
		if err := both.Verify([]byte(valid), device, testNow, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueueCodec_Verify_Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	c := mustQueueCodec(t, queueOpts, key1)
	valid := []byte(mustIssue(t, c, testQueue, "/book"))
	stale := []byte(mustIssue(t, mustQueueCodec(t, ticket.QueueOptions{Issuer: queueOpts.Issuer, Room: queueOpts.Room, Epoch: "old"}, key1), testQueue, ""))
	otherKid := []byte(mustIssue(t, mustQueueCodec(t, queueOpts, key2), testQueue, ""))
	badSig := bytes.Clone(valid)
	badSig[len(badSig)-5] ^= 1
	for _, tt := range []struct {
		name  string
		token []byte
		dev   []byte
		now   time.Time
	}{
		{"OK", valid, device, testNow},
		{"ErrExpired", valid, device, testNow.Add(2 * time.Hour)},
		{"ErrDevice", valid, []byte("other"), testNow},
		{"ErrSignature", badSig, device, testNow},
		{"ErrStale", stale, device, testNow},
		{"ErrKey", otherKid, device, testNow},
		{"ErrAlgorithm", []byte("eyJhbGciOiJub25lIn0." + strings.Split(string(valid), ".")[1] + "."), device, testNow},
		{"ErrMalformed", []byte("garbage"), device, testNow},
		{"ErrTooLarge", make([]byte, ticket.MaxTokenSize+1), device, testNow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var q ticket.Queue
			if got := testing.AllocsPerRun(100, func() { _ = c.Verify(tt.token, tt.dev, tt.now, &q) }); got != 0 {
				t.Fatalf("allocs = %v, want 0", got)
			}
		})
	}
}

func TestQueueCodec_ReturnPath(t *testing.T) {
	c := mustQueueCodec(t, queueOpts, key1)
	for _, tt := range []struct {
		name string
		path string
		want error
	}{
		{"None", "", nil},
		{"Root", "/", nil},
		{"Query", "/book?site=12&slot=2021-08-09T20:00#top", nil},
		{"Escaping", `/a"b\c/<script>'x'`, nil},
		{"Unicode", "/예약/ünïcode/😀", nil},
		{"MaxEscaped", "/" + strings.Repeat(`a\`, (ticket.MaxReturnPath-2)/2) + "a", nil},
		{"ErrTooLong", "/" + strings.Repeat("a", ticket.MaxReturnPath), ticket.ErrReturnPath},
		{"ErrRelative", "book", ticket.ErrReturnPath},
		{"ErrAbsolute", "https://evil.example/", ticket.ErrReturnPath},
		{"ErrSchemeRelative", "//evil.example/", ticket.ErrReturnPath},
		{"ErrBackslash", `/\evil.example/`, ticket.ErrReturnPath},
		{"ErrTab", "/\t/evil.example/", ticket.ErrReturnPath},
		{"ErrNewline", "/a\r\nSet-Cookie: x=1", ticket.ErrReturnPath},
		{"ErrInvalidUTF8", "/\xff", ticket.ErrReturnPath},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := c.Issue(testQueue, tt.path, testNow)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if len(tok) > ticket.MaxTokenSize {
				t.Fatalf("token of %d bytes", len(tok))
			}
			if err := c.Verify([]byte(tok), device, testNow, nil); err != nil {
				t.Fatal(err)
			}
			if got := c.ReturnPath([]byte(tok)); got != tt.path {
				t.Fatalf("ReturnPath = %q, want %q", got, tt.path)
			}
		})
	}
	t.Run("ForgedToken", func(t *testing.T) {
		forged := hs256(`{"alg":"HS256","kid":"k1","typ":"JWT"}`,
			strings.TrimSuffix(payloadOf(t, mustIssue(t, c, testQueue, "")), "}")+`,"ret":"/x"}`, key2.Secret)
		if got := c.ReturnPath([]byte(forged)); got != "" {
			t.Fatalf("ReturnPath = %q, want empty", got)
		}
	})
}

func TestDeviceHash(t *testing.T) {
	sum := sha256.Sum256([]byte("device-one"))
	if got, want := ticket.DeviceHash([]byte("device-one")), [16]byte(sum[:16]); got != want {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestNewDeviceID(t *testing.T) {
	a, b := ticket.NewDeviceID(), ticket.NewDeviceID()
	if len(a) != 22 || a == b {
		t.Fatalf("ids %q, %q", a, b)
	}
	if raw, err := enc.DecodeString(a); err != nil || len(raw) != 16 {
		t.Fatalf("decode %q: %v, %d bytes", a, err, len(raw))
	}
	if ticket.NewSubject() == ticket.NewSubject() {
		t.Fatal("two equal subjects")
	}
}

func FuzzQueueVerify(f *testing.F) {
	c := mustQueueCodec(f, queueOpts, key1)
	valid := mustIssue(f, c, testQueue, "")
	f.Add([]byte(valid), device)
	f.Add([]byte(mustIssue(f, c, testQueue, `/a"b\c`)), device)
	f.Add([]byte(hs256(`{"alg":"none","typ":"JWT"}`, payloadOf(f, valid), nil)), device)
	f.Add([]byte(".."), []byte{})
	f.Fuzz(func(t *testing.T, token, dev []byte) {
		var q ticket.Queue
		err := c.Verify(token, dev, testNow, &q)
		_ = c.ReturnPath(token)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// Whatever the codec accepts, a standard verifier accepts too.
		if _, err := jwt.Parse(string(token), func(*jwt.Token) (any, error) { return key1.Secret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(queueOpts.Issuer),
			jwt.WithAudience(ticket.QueueAudience), jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(func() time.Time { return testNow })); err != nil {
			t.Fatalf("accepted %q that golang-jwt refuses: %v", token, err)
		}
	})
}

func BenchmarkQueueIssue(b *testing.B) {
	c := mustQueueCodec(b, queueOpts, key1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Issue(testQueue, "", testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQueueVerify(b *testing.B) {
	c := mustQueueCodec(b, queueOpts, key1)
	tok := []byte(mustIssue(b, c, testQueue, ""))
	var q ticket.Queue
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Verify(tok, device, testNow, &q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueueVerifyGolangJWT is the baseline: the same ticket and checks
// through golang-jwt.
func BenchmarkQueueVerifyGolangJWT(b *testing.B) {
	c := mustQueueCodec(b, queueOpts, key1)
	tok := mustIssue(b, c, testQueue, "")
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(queueOpts.Issuer),
		jwt.WithAudience(ticket.QueueAudience), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return testNow }))
	keyfunc := func(*jwt.Token) (any, error) { return key1.Secret, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(tok, keyfunc); err != nil {
			b.Fatal(err)
		}
	}
}
