package webfont_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/internal/webfont"
)

func TestAsset(t *testing.T) {
	css, ct, ok := webfont.Asset("fonts.css")
	if !ok || ct != "text/css; charset=utf-8" {
		t.Fatalf("fonts.css: %v %q", ok, ct)
	}
	for _, name := range []string{"waitroom-sans-kr-400.woff2", "waitroom-sans-kr-700.woff2"} {
		if !strings.Contains(string(css), `url("`+name+`")`) {
			t.Errorf("fonts.css does not load %s", name)
		}
		b, ct, ok := webfont.Asset(name)
		if !ok || ct != "font/woff2" || !bytes.HasPrefix(b, []byte("wOF2")) {
			t.Errorf("%s: ok %v, %q, starts %q", name, ok, ct, b[:min(4, len(b))])
		}
	}
	if b, _, ok := webfont.Asset("OFL.txt"); !ok || !bytes.Contains(b, []byte("SIL OPEN FONT LICENSE Version 1.1")) {
		t.Error("the licence does not ship with the font")
	}
	for _, name := range []string{"", "webfont.go", "../fonts.css", "FONTS.CSS"} {
		if _, _, ok := webfont.Asset(name); ok {
			t.Errorf("Asset(%q) served", name)
		}
	}
}
