// Package console is the operator console the gateway serves on its admin
// listener at /admin/: an embedded page, script and style sheet (no build
// step, nothing loaded from elsewhere), and the server-side pieces of
// signing in that do not depend on the gateway: sign-in sessions with their
// CSRF tokens, the limit on failed sign-ins, and the one-hour history the
// charts draw.
//
// The page signs in by posting the admin token once (never in a URL); the
// gateway answers with an HttpOnly, SameSite=Strict session cookie and a
// CSRF token the script sends with every change. It then polls
// /admin/api/console every second, /admin/api/history every ten seconds
// and /admin/api/audit after every change; see static/console.js. Every
// control asks for confirmation before it is sent.
package console

import (
	"embed"
	"strings"

	"github.com/waitroom/waitroom/internal/webfont"
)

//go:embed static
var files embed.FS

type asset struct {
	body        []byte
	contentType string
}

var assets = map[string]asset{
	"console.js":  {mustRead("static/console.js"), "text/javascript; charset=utf-8"},
	"console.css": {mustRead("static/console.css"), "text/css; charset=utf-8"},
}

var page = mustRead("static/index.html")

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("console: " + err.Error())
	}
	return b
}

// Page returns the console page served at /admin/. The bytes are shared by
// every caller and must not be modified.
func Page() []byte { return page }

// Asset returns the file served at /admin/static/<name> ("console.js",
// "console.css", or the Korean web font's "fonts/<file>", see package
// webfont) with its Content-Type; ok is false for any other name. The body
// is shared by every caller and must not be modified.
func Asset(name string) (body []byte, contentType string, ok bool) {
	if f, found := strings.CutPrefix(name, "fonts/"); found {
		return webfont.Asset(f)
	}
	a, ok := assets[name]
	return a.body, a.contentType, ok
}

// ContentSecurityPolicy is the policy the page is served with: everything
// from the admin listener itself, nothing inline, no framing, forms posting
// only back to it.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
