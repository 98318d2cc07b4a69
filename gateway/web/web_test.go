package web_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/waitroom/waitroom/gateway/web"
)

// The ids the browser tests read, each of which must be on the page.
var ids = []string{"position", "ahead", "eta", "progress", "state", "notice", "lang-switch"}

func TestPage(t *testing.T) {
	scriptTag := regexp.MustCompile(`<script[^>]*>`)
	for _, tc := range []struct {
		lang, wantHTML, wantTitle, wantSwitch string
	}{
		{"ko", `<html lang="ko">`, "코로나19 예방접종 사전예약 대기", `href="?lang=en"`},
		{"en", `<html lang="en">`, "COVID-19 vaccination booking: waiting room", `href="?lang=ko"`},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			page := web.Page(tc.lang)
			for _, want := range []string{tc.wantHTML, tc.wantTitle, tc.wantSwitch, `aria-live="polite"`, `name="viewport"`} {
				if !bytes.Contains(page, []byte(want)) {
					t.Errorf("page lacks %q", want)
				}
			}
			for _, id := range ids {
				if n := bytes.Count(page, []byte(`id="`+id+`"`)); n != 1 {
					t.Errorf("id %q appears %d times, want 1", id, n)
				}
			}
			if bytes.Contains(page, []byte("style=")) {
				t.Error("page has a style attribute, which the CSP blocks")
			}
			if bytes.Contains(page, []byte("<style")) {
				t.Error("page has an inline style element, which the CSP blocks")
			}
			tags := scriptTag.FindAllIndex(page, -1)
			if len(tags) == 0 {
				t.Fatal("page loads no script")
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
	for _, name := range []string{"app.js", "app.css"} {
		b, _, _ := web.Asset(name)
		bodies[name] = b
	}
	for name, b := range bodies {
		for _, bad := range []string{"http://", "https://", "//fonts.", "@import"} {
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

// The script is vanilla ES2017 and stays small enough for a slow phone on a
// congested network.
func TestAsset_Script(t *testing.T) {
	js, _, _ := web.Asset("app.js")
	if got, limit := len(js), 8<<10; got >= limit {
		t.Errorf("app.js is %d bytes, want < %d", got, limit)
	}
	for _, id := range ids {
		if !bytes.Contains(js, []byte("'"+id+"'")) {
			t.Errorf("app.js never uses #%s", id)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH; syntax not checked")
	}
	path := filepath.Join(t.TempDir(), "app.js")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", path).CombinedOutput(); err != nil {
		t.Fatalf("node --check app.js: %v\n%s", err, out)
	}
}
