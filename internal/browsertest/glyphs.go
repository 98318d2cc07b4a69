package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/chromedp"
)

// noKoreanFonts writes a fontconfig configuration that is the system's
// without any font covering Korean, so that every browser test sees what a
// fresh machine without a Korean font shows, whatever this one has
// installed; it returns the file's path.
func noKoreanFonts(dir string) (string, error) {
	conf := `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <cachedir>` + filepath.Join(dir, "cache") + `</cachedir>
  <selectfont><rejectfont><pattern><patelt name="lang"><string>ko</string></patelt></pattern></rejectfont></selectfont>
</fontconfig>
`
	path := filepath.Join(dir, "fonts.conf")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// koreanRange matches the characters the project's web font covers
// (internal/webfont's unicode-range): CJK punctuation, compatibility jamo
// and Hangul syllables.
const koreanRange = `[\u3000-\u303F\u3131-\u318E\uAC00-\uD7A3\uFF5E]`

// markKoreanJS waits for the page's fonts, marks every rendered element
// whose own text holds Korean with data-glyphs="<count of such characters
// it renders>", and returns how many it marked. A browser starts loading a
// web font only when a layout needs it, so fonts.ready is awaited again
// after two frames: the first may have resolved before any load began.
const markKoreanJS = `(async () => {
  // A hidden page (a background tab) draws no frames; its layout is still
  // made on demand.
  const frame = () => new Promise(r => document.hidden ? setTimeout(r) : requestAnimationFrame(() => requestAnimationFrame(r)));
  do { await frame(); await document.fonts.ready; } while (document.fonts.status !== 'loaded');
  const re = /` + koreanRange + `/g, one = /` + koreanRange + `/;
  let n = 0;
  for (const e of document.querySelectorAll('body *')) {
    e.removeAttribute('data-glyphs');
    if (!e.getClientRects().length || getComputedStyle(e).visibility !== 'visible') continue;
    let own = false;
    for (const c of e.childNodes) if (c.nodeType === 3 && one.test(c.data)) own = true;
    // Chromium reports the fonts of everything the element renders, its
    // children's text included: count what innerText (rendered text) holds.
    const k = own ? (e.innerText.match(re) || []).length : 0;
    if (k > 0) { e.setAttribute('data-glyphs', String(k)); n++; }
  }
  return n;
})()`

// KoreanGlyphs checks that every Korean character the page shows is drawn
// by a font that has it: the Korean characters of each element's own text
// must all be glyphs of a web font the page loaded (its system fonts cover
// no Korean, see noKoreanFonts), not the empty boxes a fallback font draws
// for characters it lacks. It returns how many elements it checked; a page
// with Korean text and nothing checked fails too.
func (b *Browser) KoreanGlyphs() int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	var problems []string
	n, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (int, error) {
		marked, err := chromedp.Evaluate[int](markKoreanJS, chromedp.EvalAwaitPromise)(ctx, t)
		if err != nil || marked == 0 {
			return 0, err
		}
		// chromedp's own node tree: a DOM.getDocument of ours would
		// renumber the nodes under its feet.
		nodes, err := chromedp.Nodes(chromedp.CSSAll("[data-glyphs]"), chromedp.AtLeast(marked))(ctx, t)
		if err != nil {
			return 0, err
		}
		for _, n := range nodes {
			used, err := cdp.Call(ctx, t, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: n.NodeID})
			if err != nil {
				return 0, err
			}
			var web float64
			var fonts []string
			for _, f := range used.Fonts {
				if f.IsCustomFont {
					web += f.GlyphCount
				}
				fonts = append(fonts, fmt.Sprintf("%s (web font %v): %v glyphs", f.FamilyName, f.IsCustomFont, f.GlyphCount))
			}
			if want := n.AttributeValue("data-glyphs"); fmt.Sprint(web) != want {
				html, _ := chromedp.OuterHTML([]cdp.NodeID{n.NodeID})(ctx, t)
				problems = append(problems, fmt.Sprintf("%v of %s Korean characters from a web font in %.120q: %s", web, want, html, strings.Join(fonts, ", ")))
			}
		}
		return len(nodes), nil
	})
	if err != nil {
		b.t.Fatalf("browser: check Korean glyphs on %s: %v", b.location(), err)
	}
	if n == 0 {
		b.t.Fatalf("browser: no Korean text shown on %s to check", b.location())
	}
	if len(problems) > 0 {
		b.t.Errorf("browser: Korean drawn without a font that has it (empty boxes) on %s:\n%s", b.location(), strings.Join(problems, "\n"))
	}
	return n
}
