package integration

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/redistest"
)

// One person, one place, whichever provider they verify with. Two
// development providers run as separate processes, as the mobile carriers
// and Kakao are separate companies: each signs with its own keys and gives
// a person its own subjects, and both derive the same CI from one CI key, as
// Korea's verification agencies do. Two gateways share one Redis.
func TestIdentity_OnePlaceAcrossProviders(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	env := childEnv("WAITROOM_ADMIN_TOKEN="+adminToken, "WAITROOM_REDIS_ADDRS="+redis.Addr(),
		"WAITROOM_DEV_IDP_CI_KEY=integration-ci-key-shared-by-the-providers")
	// carrier serves phone; portal serves kakao, and naver without CI.
	_, carrier := startProcess(t, "dev-idp carrier", env, 1, "dev-idp", "--listen", "127.0.0.1:0", "--latency", "0s", "--methods", "phone")
	_, portal := startProcess(t, "dev-idp portal", env, 1, "dev-idp", "--listen", "127.0.0.1:0", "--latency", "0s",
		"--methods", "kakao,naver", "--without-ci", "naver")
	_, backend := startProcess(t, "demo-backend", env, 1, "demo-backend", "--listen", "127.0.0.1:0")

	secret := make([]byte, 32)
	rand.Read(secret)
	method := func(name, issuer, claim string) string {
		return fmt.Sprintf("    - {name: %s, label: %s, issuer: %q, client_id: waitroom, client_secret: dev-secret, capacity: 100, enabled: true, person_claim: %s}\n",
			name, name, issuer, claim)
	}
	config := filepath.Join(t.TempDir(), "identity.yaml")
	yaml := fmt.Sprintf("environment: development\nroom: identity\nrate_per_hour: 3600\npaused: true\nlog:\n  level: info\n  format: json\n%sidentity:\n  enabled: true\n  secret: %s\n  methods:\n",
		ticketKeys, base64.StdEncoding.EncodeToString(secret)) +
		method("phone", "http://"+carrier[0]+"/phone", "ci") +
		method("kakao", "http://"+portal[0]+"/kakao", "ci") +
		method("naver", "http://"+portal[0]+"/naver", "ci") +
		// The same provider keyed by its subject: what the CI prevents.
		method("kakaosub", "http://"+portal[0]+"/kakao", "sub")
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	gws := make([]*gateway, 2)
	for i := range gws {
		// Callbacks name the gateway's public address: it must be known
		// before the gateway starts.
		port, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		public := "127.0.0.1:" + strconv.Itoa(port)
		p, addrs := startProcess(t, fmt.Sprintf("gateway %d", i+1), append(env, "WAITROOM_IDENTITY_PUBLIC_URL=http://"+public), 2,
			"serve", "--config", config, "--listen", public, "--admin-listen", "127.0.0.1:0", "--backend", "http://"+backend[0])
		gws[i] = &gateway{process: p, public: "http://" + addrs[0], admin: "http://" + addrs[1]}
		if err := gws[i].waitReady(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if out := gws[0].output.tail(64 << 10); !strings.Contains(out, `IDENTITY METHOD \"kakaosub\" IS KEYED BY sub`) {
		t.Errorf("no loud warning about the method keyed by sub in the gateway's log:\n%s", out)
	}

	phone, laptop, other := newDevice(t), newDevice(t), newDevice(t)
	const kim, birth = "김민수", "1990-03-19"
	step(t, "FirstVerification", func(t *testing.T) {
		if pos := phone.mustPlace(t, gws[0], "phone", birth, kim); pos != 1 {
			t.Fatalf("first verification got position %d, want 1", pos)
		}
	})
	step(t, "OtherProviderOtherDevice", func(t *testing.T) {
		r := laptop.verify(t, gws[1], "kakao", birth, kim)
		if r.status != http.StatusConflict || !strings.Contains(string(r.body), `data-code="held"`) {
			t.Fatalf("the same person with another provider on another device: %d %.300s, want 409 held", r.status, r.body)
		}
		if laptop.cookie(gws[1], "wr_ticket") != "" {
			t.Fatal("the refused device holds a ticket")
		}
	})
	step(t, "OtherProviderSameDevice", func(t *testing.T) {
		if pos := phone.mustPlace(t, gws[1], "kakao", birth, kim); pos != 1 {
			t.Fatalf("the same person with another provider on the same device got position %d, want their place 1", pos)
		}
	})
	step(t, "NoCI", func(t *testing.T) {
		r := other.verify(t, gws[0], "naver", "1985-07-01", "이서연")
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "pick another method") {
			t.Fatalf("a token without ci: %d %.300s, want 403 and a word to pick another method", r.status, r.body)
		}
		if other.cookie(gws[0], "wr_ticket") != "" {
			t.Fatal("a verification without ci got a ticket")
		}
		m, err := do(mustRequest("GET", gws[0].admin+"/metrics", "", adminToken))
		if err != nil || !strings.Contains(string(m.body), `waitroom_verification_completions_total{method="naver",outcome="no_person_claim"} 1`) {
			t.Fatalf("metrics (%v) do not count the refusal:\n%s", err, m.body)
		}
		if pos := other.mustPlace(t, gws[0], "kakao", "1985-07-01", "이서연"); pos != 2 {
			t.Fatalf("the next person got position %d, want 2 (the refusal took no place)", pos)
		}
	})
	// Keyed by a provider's subject, the same person is a stranger: what
	// person_claim sub (and the warning) is about.
	step(t, "SubDoesNotSpanProviders", func(t *testing.T) {
		if pos := laptop.mustPlace(t, gws[1], "kakaosub", birth, kim); pos != 3 {
			t.Fatalf("keyed by sub, the same person got position %d, want a second place 3", pos)
		}
	})
}

// device is a browser: its own cookies, sent to every gateway of the fleet
// as to one public host name (cookies ignore ports).
type device struct {
	client *http.Client
}

func newDevice(t *testing.T) *device {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &device{client: &http.Client{Jar: jar, Timeout: client.Timeout, CheckRedirect: client.CheckRedirect}}
}

// verify walks one verification with method at gw, logging in at the
// provider as name born on birth, and returns the callback's answer.
func (d *device) verify(t *testing.T, gw *gateway, method, birth, name string) reply {
	t.Helper()
	get := func(u string) reply {
		t.Helper()
		req := mustRequest("GET", u, "", "")
		req.Header.Set("Accept", "text/html")
		r, err := send(d.client, req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := get(gw.public + "/waitroom/auth/" + method + "/start?return=%2Fbook")
	if r.status != http.StatusSeeOther {
		t.Fatalf("start %s at %s: %d %.300s", method, gw.name, r.status, r.body)
	}
	r = get(r.header.Get("Location") + "&login_hint=" + url.QueryEscape("auto:"+birth+":"+name))
	if r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), gw.public+"/waitroom/auth/"+method+"/callback?") {
		t.Fatalf("provider of %s: %d to %q, want a redirect to %s's callback", method, r.status, r.header.Get("Location"), gw.name)
	}
	return get(r.header.Get("Location"))
}

// mustPlace verifies and returns the position the device then holds.
func (d *device) mustPlace(t *testing.T, gw *gateway, method, birth, name string) int64 {
	t.Helper()
	if r := d.verify(t, gw, method, birth, name); r.status != http.StatusSeeOther {
		t.Fatalf("verify with %s at %s: %d %.300s", method, gw.name, r.status, r.body)
	}
	r, err := send(d.client, mustRequest("GET", gw.public+"/waitroom/api/status", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.standing()
	if err != nil {
		t.Fatalf("status at %s: %v", gw.name, err)
	}
	return s.Position
}

// cookie returns the device's cookie name for gw, or "".
func (d *device) cookie(gw *gateway, name string) string {
	u, _ := url.Parse(gw.public + "/waitroom/")
	for _, c := range d.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}
