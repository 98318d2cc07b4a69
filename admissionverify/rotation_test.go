package admissionverify_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/waitroom/waitroom/admissionverify"
	"github.com/waitroom/waitroom/ticket"
)

// TestRotationUnderLoad rotates the gateway's signing key the documented
// way while workers keep being admitted and sending their tokens through the
// fasthttp middleware of a real server:
//
//	t=20s   key b is published (b first, with SignFrom t=60s; a still signs)
//	t=60s   b signs
//	t=126s  a is dropped: its last tokens expired at 120s (+5s leeway)
//
// No request may be refused, both keys must have carried traffic, and once
// a is dropped its tokens must be refused.
func TestRotationUnderLoad(t *testing.T) {
	const (
		ttl     = time.Minute
		leeway  = 5 * time.Second
		publish = 20 * time.Second
		signB   = 60 * time.Second
		dropA   = signB + ttl + leeway + time.Second
		end     = dropA + 30*time.Second
		workers = 4
	)
	o := gwOpts
	o.TTL = ttl
	clk := newClock()
	nextB := keyB
	nextB.SignFrom = t0.Add(signB)
	phases := []struct {
		at   time.Duration
		keys *ticket.AdmissionKeys
	}{
		{0, mustKeys(t, o, keyA)},
		{publish, mustKeys(t, o, nextB, keyA)},
		{dropA, mustKeys(t, o, nextB)},
	}
	var gateway atomic.Pointer[ticket.AdmissionKeys] // what the gateways sign with and publish
	gateway.Store(phases[0].keys)
	jwks := newJWKSServer(t, phases[0].keys)
	v := newVerifier(t, jwks.URL(), clk, func(o *admissionverify.Options) {
		o.Leeway, o.RefreshInterval, o.MaxAge = leeway, 5*time.Second, 10*time.Second
	})
	client := serveFast(t, v.FastHTTP(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(200) }))

	// Time stands still during a request (read lock) and moves between
	// them (write lock), so a token never expires on its way.
	var (
		tick         sync.RWMutex
		stop         atomic.Bool
		refused      atomic.Int64
		byKey        sync.Map // kid -> *atomic.Int64 of accepted requests
		firstRefusal atomic.Value
		wg           sync.WaitGroup
	)
	send := func(tok, dev string) {
		if status, body := get(t, client, tok, dev); status != 200 {
			refused.Add(1)
			firstRefusal.CompareAndSwap(nil, body)
			return
		}
		n, _ := byKey.LoadOrStore(kidOf(t, tok), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	for w := range workers {
		dev := ticket.NewDeviceID()
		// Worker w is a stream of people just admitted, and one person who
		// is admitted at signB-1s-w*10s (the last ones a signs) and keeps
		// each token for its whole life, as someone filling in the booking
		// form does.
		heldExp := t0.Add(signB - time.Second - time.Duration(w)*10*time.Second)
		wg.Go(func() {
			var held string
			for !stop.Load() {
				tick.RLock()
				now := clk.Now()
				fresh, a, err := gateway.Load().Issue(admission(dev), now)
				if err != nil {
					tick.RUnlock()
					t.Error(err)
					return
				}
				if !now.Before(heldExp) {
					held, heldExp = fresh, a.Expiry
				}
				if held != "" {
					send(held, dev)
				}
				send(fresh, dev)
				tick.RUnlock()
			}
		})
	}
	for clk.Now().Sub(t0) < end {
		time.Sleep(2 * time.Millisecond)
		tick.Lock()
		clk.Advance(time.Second)
		for _, p := range phases {
			if clk.Now().Sub(t0) == p.at {
				gateway.Store(p.keys)
				jwks.Publish(p.keys)
			}
		}
		tick.Unlock()
	}
	stop.Store(true)
	wg.Wait()

	if n := refused.Load(); n != 0 {
		t.Fatalf("%d requests refused during the rotation, the first: %v", n, firstRefusal.Load())
	}
	for _, kid := range []string{"a", "b"} {
		n, ok := byKey.Load(kid)
		if !ok || n.(*atomic.Int64).Load() == 0 {
			t.Fatalf("no request carried a token of key %s", kid)
		}
		t.Logf("key %s: %d requests", kid, n.(*atomic.Int64).Load())
	}
	// Whoever still holds the dropped key cannot admit anyone.
	waitRefused(t, v, []byte(issue(t, mustKeys(t, o, keyA), clk.Now(), device)), admissionverify.ErrUnknownKey)
}

// serveFast serves h on an in-memory listener until the test ends.
func serveFast(tb testing.TB, h fasthttp.RequestHandler) *fasthttp.Client {
	tb.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln) //nolint:errcheck // Serve returns when the listener closes.
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

func get(tb testing.TB, c *fasthttp.Client, token, dev string) (int, string) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://backend/book")
	req.Header.SetCookie(admissionverify.AdmissionCookie, token)
	req.Header.SetCookie(admissionverify.DeviceCookie, dev)
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		tb.Error(err)
		return 0, err.Error()
	}
	return resp.StatusCode(), string(resp.Body())
}
