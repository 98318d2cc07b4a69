package demo_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/admissionverify"
	"github.com/waitroom/waitroom/demo"
	"github.com/waitroom/waitroom/ticket"
)

// With a Verifier, the demo site refuses whoever did not come through the
// waiting room, however they try, and serves whoever did.
func TestHandler_Verifier(t *testing.T) {
	gwKey := ticket.EdKey{ID: "k1", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))}
	opts := ticket.AdmissionOptions{Issuer: "waitroom", Audience: "booking"}
	gw, err := ticket.NewAdmissionKeys([]ticket.EdKey{gwKey}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(gw.JWKS()) }))
	t.Cleanup(jwks.Close)
	v, err := admissionverify.New(admissionverify.Options{
		JWKSURL: jwks.URL + "/.well-known/jwks.json", Issuer: opts.Issuer, Audience: opts.Audience, Rooms: []string{"vaccine"},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	c := MustServe(t, demo.Options{Verifier: v, SlotsPerDay: 10})

	const device = "device-of-the-admitted-person"
	issue := func(k ticket.EdKey, o ticket.AdmissionOptions, at time.Time) string {
		t.Helper()
		keys, err := ticket.NewAdmissionKeys([]ticket.EdKey{k}, o)
		if err != nil {
			t.Fatal(err)
		}
		dev := ticket.DeviceHash([]byte(device))
		tok, _, err := keys.Issue(ticket.Admission{
			Subject: "c3ViamVjdC0wMTIzNDU2Nw", Device: base64.RawURLEncoding.EncodeToString(dev[:]),
			Room: "vaccine", Position: 42, Method: "pass",
		}, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admitted := issue(gwKey, opts, now)
	cookies := func(token, dev string) string { return "wr_admission=" + token + "; wr_device=" + dev }
	forged := issue(ticket.EdKey{ID: "k1", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))}, opts, now)
	none := func() string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": "waitroom", "aud": "booking", "exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()
	const book = "date=2021-08-27&institution=H2"

	for _, tc := range []struct {
		name, method, path, form string
		header                   []string
		status                   int
		code                     string
	}{
		{"ErrNoToken", "POST", "/book", book, nil, 401, "missing_token"},
		{"ErrNoTokenPage", "GET", "/book", "", nil, 401, "missing_token"},
		{"ErrNoTokenAPI", "GET", "/api/slots", "", nil, 401, "missing_token"},
		{"ErrForged", "POST", "/book", book, []string{"Cookie", cookies(forged, device)}, 401, "bad_signature"},
		{"ErrAlgNone", "POST", "/book", book, []string{"Cookie", cookies(none, device)}, 401, "bad_algorithm"},
		{"ErrExpired", "POST", "/book", book, []string{"Cookie", cookies(issue(gwKey, opts, now.Add(-time.Hour)), device)}, 401, "expired"},
		{"ErrOtherSite", "POST", "/book", book, []string{"Cookie", cookies(issue(gwKey, ticket.AdmissionOptions{Issuer: "waitroom", Audience: "concerts"}, now), device)}, 403, "wrong_audience"},
		{"ErrOtherDevice", "POST", "/book", book, []string{"Cookie", cookies(admitted, "device-of-someone-else")}, 403, "device_mismatch"},
		{"ErrCopiedWithoutDevice", "POST", "/book", book, []string{"Authorization", "Bearer " + admitted}, 403, "device_mismatch"},
		{"ErrGarbage", "POST", "/book", book, []string{"Cookie", cookies("x.y.z", device)}, 401, "malformed_token"},
		{"OKStatic", "GET", "/static/style.css", "", nil, 200, ""},
		{"OKFavicon", "GET", "/favicon.ico", "", nil, 204, ""},
		{"OKForm", "GET", "/book", "", []string{"Cookie", cookies(admitted, device)}, 200, ""},
		{"OKBook", "POST", "/book", book, []string{"Cookie", cookies(admitted, device)}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, tc.method, tc.path, tc.form, tc.header...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body:\n%.300s", r.status, tc.status, r.body)
			}
			if tc.code != "" && !strings.Contains(r.body, `"code":"`+tc.code+`"`) {
				t.Fatalf("body %s, want code %q", r.body, tc.code)
			}
			if complete := r.header[demo.CompleteHeader]; (complete == "1") != (tc.name == "OKBook") {
				t.Errorf("%s = %q", demo.CompleteHeader, complete)
			}
			if r.header["X-Content-Type-Options"] != "nosniff" {
				t.Error("no X-Content-Type-Options")
			}
			if tc.name == "OKForm" && (!strings.Contains(r.body, "검증됨") || !strings.Contains(r.body, "순번 42")) {
				t.Errorf("the page does not show the verified admission:\n%s", r.body)
			}
		})
	}
	// Only the admitted person's booking was made.
	r := do(t, c, "GET", "/api/slots", "", "Cookie", cookies(admitted, device))
	if !strings.Contains(r.body, `{"date":"2021-08-27","remaining":9}`) {
		t.Fatalf("slots %s, want one booking on 2021-08-27", r.body)
	}
}
