package main_test

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// The demo backend started with --jwks checks admissions itself against the
// gateway's published keys: through the gateway a person books; straight to
// the backend, only a real admission on its own device gets in.
func TestMain_DemoBackendVerifies(t *testing.T) {
	t.Setenv("WAITROOM_ADMIN_TOKEN", adminToken)
	devEnvironment(t)
	// The backend learns the gateway's address before the gateway starts:
	// it fetches the keys on its first request.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gwAddr := ln.Addr().String()
	ln.Close()
	backend := MustRun(t, "demo-backend", "--listen", "127.0.0.1:0", "--jwks", "http://"+gwAddr+"/.well-known/jwks.json")
	MustRun(t, "serve", "--listen", gwAddr, "--admin-listen", "127.0.0.1:0", "--backend", "http://"+backend.PublicAddr, "--rate-per-hour", "3600000")
	base, direct := "http://"+gwAddr, "http://"+backend.PublicAddr

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	req := mustReq(t, "POST", base+"/waitroom/api/join", `{"return":"/book"}`)
	req.Header.Set("Content-Type", "application/json")
	var st struct {
		State       string
		PollAfterMS int64 `json:"poll_after_ms"`
	}
	decode(t, mustDo(t, c, req), &st)
	for deadline := time.Now().Add(5 * time.Second); st.State != "admitted"; {
		if time.Now().After(deadline) {
			t.Fatalf("not admitted after 5 s: %+v", st)
		}
		time.Sleep(time.Duration(st.PollAfterMS) * time.Millisecond)
		decode(t, mustDo(t, c, mustReq(t, "GET", base+"/waitroom/api/status", "")), &st)
	}
	token, device := cookie(t, jar, base+"/", "wr_admission"), cookie(t, jar, base+"/", "wr_device")

	// Straight to the backend.
	for _, tc := range []struct {
		name, cookies string
		status        int
	}{
		{"NoToken", "", 401},
		{"OtherDevice", "wr_admission=" + token + "; wr_device=another-device", 403},
		{"Forged", "wr_admission=" + token[:strings.LastIndexByte(token, '.')+1] + "AAAA; wr_device=" + device, 401},
		{"Admitted", "wr_admission=" + token + "; wr_device=" + device, 200},
	} {
		req := mustReq(t, "GET", direct+"/book", "")
		if tc.cookies != "" {
			req.Header.Set("Cookie", tc.cookies)
		}
		resp := mustDo(t, http.DefaultClient, req)
		if body := readAll(t, resp); resp.StatusCode != tc.status {
			t.Errorf("%s: %d %.200s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
	}

	// Through the gateway: the backend verified the admission, and the
	// booking ends the session.
	resp := mustDo(t, c, mustReq(t, "GET", base+"/book", ""))
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "검증됨") {
		t.Fatalf("booking form through the gateway: %d %.300s", resp.StatusCode, body)
	}
	dayAfterTomorrow := time.Now().In(time.FixedZone("KST", 9*60*60)).AddDate(0, 0, 2) // the demo books in Korean dates
	req = mustReq(t, "POST", base+"/book", "date="+dayAfterTomorrow.Format(time.DateOnly)+"&institution=H1")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp := mustDo(t, c, req); resp.StatusCode != 200 {
		t.Fatalf("booking: %d %.300s", resp.StatusCode, readAll(t, resp))
	}
	req = mustReq(t, "GET", base+"/api/slots", "")
	req.Header.Set("Cookie", "wr_admission="+token+"; wr_device="+device)
	if resp := mustDo(t, http.DefaultClient, req); resp.StatusCode != 403 {
		t.Fatalf("the ended session's token through the gateway: %d, want 403", resp.StatusCode)
	}
}
