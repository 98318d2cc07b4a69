// Package webfont holds the Korean web font every page of the project
// loads: Waitroom Sans KR, a subset of Noto Sans CJK KR (SIL Open Font
// License 1.1, see OFL.txt) made by scripts/webfont.sh. It covers the 2,350
// Hangul syllables of KS X 1001, the compatibility jamo, CJK punctuation
// and ASCII, so that Korean never renders as empty boxes on a machine
// without a Korean font; a rarer syllable (an operator's message may hold
// one) still needs a system font.
//
// A server mounts Asset under one path and its style sheets import
// fonts.css from there; the font files resolve relative to it. Stacks
// name the system Korean fonts first ("Apple SD Gothic Neo", "Malgun
// Gothic", "Noto Sans KR", "Noto Sans CJK KR"), then "Waitroom Sans KR", so
// phones and desktops with a Korean font never download it.
package webfont

import "embed"

//go:embed fonts.css waitroom-sans-kr-400.woff2 waitroom-sans-kr-700.woff2 OFL.txt
var files embed.FS

var types = map[string]string{
	"fonts.css":                  "text/css; charset=utf-8",
	"waitroom-sans-kr-400.woff2": "font/woff2",
	"waitroom-sans-kr-700.woff2": "font/woff2",
	"OFL.txt":                    "text/plain; charset=utf-8",
}

// Asset returns the file called name (fonts.css, the two .woff2 files or
// OFL.txt) and its Content-Type; ok is false for any other name. The body
// is shared by every caller and must not be modified.
func Asset(name string) (body []byte, contentType string, ok bool) {
	ct, ok := types[name]
	if !ok {
		return nil, "", false
	}
	b, err := files.ReadFile(name)
	if err != nil {
		panic("webfont: " + err.Error()) // embedded above: cannot happen
	}
	return b, ct, true
}
