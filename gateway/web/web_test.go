package web_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/gateway/web"
)

// The ids the browser tests read, and the ones app.js switches views with,
// each of which must be on the page.
var ids = []string{
	"position", "ahead", "eta", "progress", "state", "notice", "lang-switch",
	"methods", "prequeue", "opens-at", "pre-queued", "commitment",
	"queue", "hint", "countdown", "message", "live",
	"turn", "time-left", "enter", "over", "again",
}

// The ids turn.js uses, each of which must be on the page.
var turnIDs = []string{"notify-on", "sound", "notify-state", "alert", "live"}

func TestPage(t *testing.T) {
	scriptTag := regexp.MustCompile(`<script[^>]*>`)
	for _, tc := range []struct {
		lang, wantHTML, wantTitle, wantSwitch, wantIntro, wantDraw string
	}{
		{"ko", `<html lang="ko">`, "코로나19 예방접종 사전예약 대기", `href="?lang=en"`,
			"본인 인증 후 대기열에 들어갑니다. 혼잡하지 않은(원활) 인증 수단을 선택하세요.", `<a href="/waitroom/api/draw">추첨 검증</a>`},
		{"en", `<html lang="en">`, "COVID-19 vaccination booking: waiting room", `href="?lang=ko"`,
			"Verify who you are to join the queue. Pick an uncongested (green) method.", `<a href="/waitroom/api/draw">verify the draw</a>`},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			page := web.Page(tc.lang)
			for _, want := range []string{tc.wantHTML, tc.wantTitle, tc.wantSwitch, tc.wantIntro, tc.wantDraw, `aria-live="polite"`, `name="viewport"`} {
				if !bytes.Contains(page, []byte(want)) {
					t.Errorf("page lacks %q", want)
				}
			}
			for _, id := range append(ids, turnIDs...) {
				if n := bytes.Count(page, []byte(`id="`+id+`"`)); n != 1 {
					t.Errorf("id %q appears %d times, want 1", id, n)
				}
			}
			// Only the anonymous mode's view shows before the script runs.
			for id, wantHidden := range map[string]bool{"methods": true, "prequeue": true, "queue": false, "hint": false, "turn": true, "over": true, "notify-on": true} {
				tag := regexp.MustCompile(`<[^>]* id="` + id + `"[^>]*>`).Find(page)
				if got := bytes.Contains(tag, []byte(" hidden")); got != wantHidden {
					t.Errorf("%s: hidden = %v, want %v", tag, got, wantHidden)
				}
			}
			// app.js words each method's light from the legend, and takes
			// its last entry for a light it does not know.
			var lights []string
			for _, m := range regexp.MustCompile(`<div data-light="([a-z]+)"><dt>[^<]+</dt><dd>[^<]+</dd></div>`).FindAllSubmatch(page, -1) {
				lights = append(lights, string(m[1]))
			}
			if got, want := strings.Join(lights, " "), "green yellow red off"; got != want {
				t.Errorf("legend lights = %q, want %q", got, want)
			}
			if bytes.Contains(page, []byte("style=")) {
				t.Error("page has a style attribute, which the CSP blocks")
			}
			if bytes.Contains(page, []byte("<style")) {
				t.Error("page has an inline style element, which the CSP blocks")
			}
			tags := scriptTag.FindAllIndex(page, -1)
			if len(tags) != 2 {
				t.Fatalf("page loads %d scripts, want turn.js and app.js", len(tags))
			}
			for _, m := range tags {
				tag, after := page[m[0]:m[1]], page[m[1]:]
				if !bytes.Contains(tag, []byte(`src="/waitroom/static/`)) || !bytes.HasPrefix(after, []byte("</script>")) {
					t.Errorf("script %s is inline or not served by the gateway", tag)
				}
			}
		})
	}
	for _, lang := range []string{"", "fr", "KO", "en-US"} {
		t.Run("Fallback/"+lang, func(t *testing.T) {
			if !bytes.Equal(web.Page(lang), web.Page("ko")) {
				t.Errorf("Page(%q) is not the Korean page", lang)
			}
		})
	}
}

// Nothing is loaded from another origin: the CSP would block it, and the
// page must work without any network but the gateway's.
func TestPage_NoExternalResources(t *testing.T) {
	bodies := map[string][]byte{"ko page": web.Page("ko"), "en page": web.Page("en")}
	for _, name := range []string{"app.js", "turn.js", "app.css"} {
		b, _, _ := web.Asset(name)
		bodies[name] = b
	}
	for name, b := range bodies {
		// The one import allowed: our own web font, beside the style sheet.
		b = bytes.Replace(b, []byte(`@import url("fonts/fonts.css");`), nil, 1)
		for _, bad := range []string{"http://", "https://", "//fonts.", "@import", "url("} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

func TestLang(t *testing.T) {
	for _, tc := range []struct {
		header, want string
	}{
		{"ko", "ko"},
		{"en", "en"},
		{"en-US;q=0.9,ko;q=0.8", "en"},
		{"ko-KR,en;q=0.5", "ko"},
		{"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"},
		{"en-GB, ko ; q=0.3", "en"},
		{"EN-us", "en"},
		{"en_US", "en"},
		{"fr-FR,en;q=0.5", "en"},
		{"fr-FR", "ko"},
		{"en;q=0", "ko"},
		{"en;q=0.5,ko;q=0.5", "ko"},
		{"en;q=1.000,ko;q=0.999", "en"},
		{"ko;q=0.2,*;q=0.5", "en"},
		{"*", "ko"},
		{"eng", "ko"},
		{"en;q=2", "ko"},
		{"en;q=1.5", "ko"},
		{"en;q=0.1234", "ko"},
		{"en;q=abc", "ko"},
		{"en;level=1", "ko"},
		{"garbage;;;,,,", "ko"},
		{"\x00\xff", "ko"},
		{"", "ko"},
	} {
		t.Run(tc.header, func(t *testing.T) {
			if got := web.Lang([]byte(tc.header)); got != tc.want {
				t.Fatalf("Lang(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func FuzzLang(f *testing.F) {
	for _, s := range []string{"en-US;q=0.9,ko;q=0.8", "ko-KR,en;q=0.5", "*;q=0.1", "en;q=0."} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, header []byte) {
		if got := web.Lang(header); got != "ko" && got != "en" {
			t.Fatalf("Lang(%q) = %q", header, got)
		}
	})
}

func BenchmarkLang(b *testing.B) {
	header := []byte("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7,ja;q=0.6")
	b.ReportAllocs()
	for b.Loop() {
		web.Lang(header)
	}
}

func TestAsset(t *testing.T) {
	for _, tc := range []struct {
		name, wantType string
		wantOK         bool
	}{
		{"app.js", "text/javascript; charset=utf-8", true},
		{"turn.js", "text/javascript; charset=utf-8", true},
		{"app.css", "text/css; charset=utf-8", true},
		{"page.html", "", false},
		{"static/app.js", "", false},
		{"../app.js", "", false},
		{"", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype, ok := web.Asset(tc.name)
			if ok != tc.wantOK || ctype != tc.wantType {
				t.Fatalf("Asset(%q) = (_, %q, %v), want (_, %q, %v)", tc.name, ctype, ok, tc.wantType, tc.wantOK)
			}
			if ok == (len(body) == 0) {
				t.Fatalf("Asset(%q) body has %d bytes, ok = %v", tc.name, len(body), ok)
			}
		})
	}
}

// The scripts are vanilla ES2017 and stay small enough for a slow phone on
// a congested network: what travels is gzip (see Gzipped), and 8 KiB of it
// is about 0.05 s at 1.5 Mbit/s, a congested 3G cell; both scripts
// together travel in under 12 KiB. The uncompressed files stay under 20 and
// 8 KiB, so that each remains one readable concern.
func TestAsset_Script(t *testing.T) {
	total := 0
	for _, tc := range []struct {
		name        string
		limit, wire int
		ids         []string
	}{
		{"app.js", 20 << 10, 8 << 10, ids},
		{"turn.js", 8 << 10, 4 << 10, turnIDs},
	} {
		js, _, _ := web.Asset(tc.name)
		gz, ok := web.Gzipped(tc.name)
		if !ok {
			t.Fatalf("%s has no gzip form", tc.name)
		}
		total += len(gz)
		if got := len(js); got >= tc.limit {
			t.Errorf("%s is %d bytes, want < %d", tc.name, got, tc.limit)
		}
		if got := len(gz); got >= tc.wire {
			t.Errorf("%s is %d bytes on the wire (gzip), want < %d", tc.name, got, tc.wire)
		}
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		if back, err := io.ReadAll(r); err != nil || !bytes.Equal(back, js) {
			t.Fatalf("%s: its gzip form does not decompress to it (%v)", tc.name, err)
		}
		for _, id := range tc.ids {
			if !bytes.Contains(js, []byte("'"+id+"'")) {
				t.Errorf("%s never uses #%s", tc.name, id)
			}
		}
		node, path := mustNodeScript(t, tc.name)
		if out, err := exec.Command(node, "--check", path).CombinedOutput(); err != nil {
			t.Fatalf("node --check %s: %v\n%s", tc.name, err, out)
		}
	}
	if limit := 12 << 10; total >= limit {
		t.Errorf("the scripts are %d bytes together on the wire, want < %d", total, limit)
	}
	t.Logf("scripts on the wire: %d bytes of gzip", total)
}

// mustNodeScript writes the script name to a temporary file and returns it
// with the path of node; it skips the test when node is not on PATH.
func mustNodeScript(tb testing.TB, name string) (node, path string) {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("node not on PATH; " + name + " not run")
	}
	js, _, _ := web.Asset(name)
	path = filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, js, 0o600); err != nil {
		tb.Fatal(err)
	}
	return node, path
}

// Under node, app.js only exports its pure helpers; each case is a
// JavaScript expression over them.
func TestAsset_ScriptHelpers(t *testing.T) {
	cases := []helperCase{
		{"when/ko", `when(T.ko, "2021-08-09T11:00:00Z")`, "8월 9일 20:00"},
		{"when/en", `when(T.en, "2021-08-09T11:00:00Z")`, "9 Aug 20:00 KST"},
		{"when/NextDayInKorea", `when(T.en, "2021-12-31T15:30:00Z")`, "1 Jan 00:30 KST"},
		{"when/Offset", `when(T.ko, "2021-08-09T20:00:00+09:00")`, "8월 9일 20:00"},
		{"when/Malformed", `when(T.ko, "tomorrow")`, "-"},
		{"when/Missing", `when(T.en, undefined)`, "-"},
		{"clock/Seconds", `clock(9)`, "0:09"},
		{"clock/Minutes", `clock(125)`, "2:05"},
		{"clock/Hours", `clock(36125)`, "10:02:05"},
		{"clock/RoundsUp", `clock(0.2)`, "0:01"},
		{"clock/Past", `clock(-4)`, "0:00"},
		{"clock/NaN", `clock(NaN)`, "0:00"},
		{"start/Root", `start("kakao", "/")`, "/waitroom/auth/kakao/start?return=%2F"},
		{"start/EncodesReturn", `start("pass", "/book?site=3&day=9")`, "/waitroom/auth/pass/start?return=%2Fbook%3Fsite%3D3%26day%3D9"},
		{"start/EncodesName", `start("a/../b?c", "/")`, "/waitroom/auth/a%2F..%2Fb%3Fc/start?return=%2F"},
		{"safe/Path", `safe("/book?x=1")`, "/book?x=1"},
		{"safe/OtherHost", `safe("//example.org")`, "/"},
		{"safe/Backslash", `safe("/\\example.org")`, "/"},
		{"safe/Tab", `safe("/\t/example.org")`, "/"},
		{"safe/Relative", `safe("book")`, "/"},
		{"safe/Null", `safe(null)`, "/"},
		{"eta/ko/UnderAMinute", `eta(T.ko, 30)`, "1분 미만"},
		{"eta/ko/Hours", `eta(T.ko, 3900)`, "약 1시간 5분"},
		{"eta/en/Minutes", `eta(T.en, 600)`, "about 10 min"},
		{"eta/Unknown", `eta(T.en, undefined)`, "-"},
		{"zeroBits/None", `zeroBits([128, 0])`, "0"},
		{"zeroBits/Some", `zeroBits([0, 0, 16, 255])`, "19"},
		{"zeroBits/All", `zeroBits([0, 0])`, "16"},
	}
	runHelpers(t, "app.js", "T, safe, eta, when, clock, start, zeroBits", cases)
}

// Under node, turn.js only exports its pure helpers too.
func TestAsset_TurnHelpers(t *testing.T) {
	runHelpers(t, "turn.js", "T, heading", []helperCase{
		{"heading/Blinks", `[0, 1, 2].map((i) => heading("차례입니다", i, false)).join("|")`, "[차례입니다] ||[차례입니다] "},
		{"heading/Steady", `[0, 1].map((i) => heading("Your turn", i, true)).join("|")`, "[Your turn] |[Your turn] "},
		{"heading/None", `heading("", 0, true)`, ""},
		{"soon/ko", `T.ko.soon[1]("약 2분")`, "예상 대기 시간 약 2분. 이 페이지로 돌아와 주세요."},
		{"turn/en", `T.en.turn[1]("about 10 min")`, "Enter the booking page within about 10 min."},
	})
}

// helperCase is a JavaScript expression over a script's exported helpers
// and the string it must give.
type helperCase struct{ name, expr, want string }

// runHelpers evaluates each case's expression under node with names (a
// destructuring list) bound to what the script name exports.
func runHelpers(t *testing.T, name, names string, cases []helperCase) {
	t.Helper()
	node, path := mustNodeScript(t, name)
	exprs := make([]string, len(cases))
	for i, tc := range cases {
		exprs[i] = tc.expr
	}
	in, err := json.Marshal(exprs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", `
const { `+names+` } = require(process.argv[1]);
const exprs = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(exprs.map((e) => String(eval(e)))));`, path)
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node printed %q (%v), want %d results", out, err, len(cases))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got[i] != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got[i], tc.want)
			}
		})
	}
}

// The page's proof of work is one the gateway accepts: SHA-256 of the
// proof starts with the asked zero bits.
func TestAsset_ScriptSolves(t *testing.T) {
	node, path := mustNodeScript(t, "app.js")
	if out, err := exec.Command(node, "-e", `if (!globalThis.crypto || !crypto.subtle) process.exit(3)`).CombinedOutput(); err != nil {
		t.Skipf("this node has no WebCrypto: %v %s", err, out)
	}
	out, err := exec.Command(node, "-e", `require(process.argv[1]).solve({challenge: "Y2hhbGxlbmdl", bits: 12}).then((p) => process.stdout.write(p));`, path).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	sum := sha256.Sum256(out)
	if !strings.HasPrefix(string(out), "Y2hhbGxlbmdl:") || sum[0] != 0 || sum[1]>>4 != 0 {
		t.Fatalf("proof %q hashes to %x: want 12 leading zero bits", out, sum[:4])
	}
}
