package admissionverify_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admissionverify"
	"github.com/waitroom/waitroom/ticket"
)

// A net/http booking backend that only serves admitted people, and ends
// their session once they have booked.
func Example() {
	// Stand-in for the gateway: its signing key and its JWKS.
	gw, _ := ticket.NewAdmissionKeys([]ticket.EdKey{{ID: "k-2025-01", Private: ed25519.NewKeyFromSeed(make([]byte, 32))}},
		ticket.AdmissionOptions{Issuer: "waitroom", Audience: "booking"})
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(gw.JWKS()) }))
	defer gateway.Close()

	// The backend.
	v, err := admissionverify.New(admissionverify.Options{
		JWKSURL:  gateway.URL + "/.well-known/jwks.json",
		Issuer:   "waitroom",          // the gateway's ticket.issuer
		Audience: "booking",           // and ticket.audience
		Rooms:    []string{"vaccine"}, // and room
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /book", func(w http.ResponseWriter, r *http.Request) {
		p, _ := admissionverify.FromContext(r.Context())
		// ... book for p.Subject ...
		admissionverify.Complete(w) // booked: the gateway ends the session
		fmt.Fprintf(w, "booked for number %d in %s", p.Position, p.Room)
	})
	backend := httptest.NewServer(v.Handler(mux))
	defer backend.Close()

	// Someone the gateway admitted on this device, and someone it did not.
	const deviceID = "Jx3bCq9oR2mF0wT7yKpL1A"
	dev := ticket.DeviceHash([]byte(deviceID))
	token, _, _ := gw.Issue(ticket.Admission{
		Subject: "c3ViamVjdC0wMTIzNDU2Nw", Device: base64.RawURLEncoding.EncodeToString(dev[:]), Room: "vaccine", Position: 42,
	}, time.Now())
	for _, cookies := range []string{
		"wr_admission=" + token + "; wr_device=" + deviceID,
		"wr_device=" + deviceID,
	} {
		req, _ := http.NewRequest("POST", backend.URL+"/book", nil)
		req.Header.Set("Cookie", cookies)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("X-Waitroom-Complete"), strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 1 booked for number 42 in vaccine
	// 401  {"error":{"code":"missing_token","message":"no admission token: wait your turn in the waiting room"}}
}

// The same with fasthttp: wrap the handlers that need an admission.
func ExampleVerifier_FastHTTP() {
	v, err := admissionverify.New(admissionverify.Options{
		JWKSURL: "https://wait.example/.well-known/jwks.json", Issuer: "waitroom", Audience: "booking",
		Rooms: []string{"vaccine", "vaccine-*"}, // the room, and each of its eligibility windows
	})
	if err != nil {
		log.Fatal(err)
	}
	book := v.FastHTTP(func(ctx *fasthttp.RequestCtx) {
		p, _ := admissionverify.FromContext(ctx)
		admissionverify.CompleteFast(ctx)
		fmt.Fprintf(ctx, "booked for number %d", p.Position)
	})
	log.Fatal(fasthttp.ListenAndServe(":8090", book))
}
