// Package web holds the waiting page the gateway serves under /waitroom/: an
// HTML page rendered once per language from an embedded template, and the
// scripts and style sheet it loads from /waitroom/static/.
//
// Everything is embedded and the page loads nothing from elsewhere, so it
// works under the gateway's Content-Security-Policy (default-src 'self', no
// inline script or style). The script joins the queue on every load, polls
// /waitroom/api/status as often as the server's poll_after_ms allows, and
// follows the redirect once admitted; see static/app.js. static/turn.js
// tells the person when their turn is near and when it comes, even while
// they look at another tab: the tab's title, a sound, a vibration, a
// system notification and the screen reader's live regions.
//
// In identity mode the page has two more views, hidden until the script
// shows them: the method picker (#methods), when a join answers
// verify_first, with links to /waitroom/auth/<method>/start and a traffic
// light per method from /waitroom/api/signals; and the pre-queue (#prequeue)
// of people who verified before the window opens, with the opening time, a
// countdown and the commitment of the opening draw.
package web

import (
	"bytes"
	"compress/gzip"
	"embed"
	"html/template"
	"strings"

	"github.com/waitroom/waitroom/internal/webfont"
)

//go:embed page.html static
var files embed.FS

// text is the wording of the server-rendered page in one language. The
// wording that changes while waiting lives in app.js, keyed by <html lang>.
type text struct {
	Title    string
	Switch   string // label of the link to the other language, in that language
	Waiting  string
	Position string
	Ahead    string
	ETA      string
	Progress string
	Hint     string
	NoScript string

	Intro string // above the method picker
	// Lights is the legend, in the order shown. app.js words each method's
	// light as the legend does, and takes the last entry ("off") for a light
	// it does not know.
	Lights []light

	OpensAt, Countdown, PreQueued string
	// DrawBefore and DrawAfter surround the start of the draw's commitment;
	// DrawLink is the link to /waitroom/api/draw.
	DrawBefore, DrawAfter, DrawLink string

	// NotifyOn asks the browser for permission to show a notification;
	// Sound turns on a beep; NotifyHint says what the page does while the
	// person looks elsewhere (turn.js replaces it with the permission's
	// state).
	NotifyOn, Sound, NotifyHint string
	// The admitted view: the time left to enter, the link to go now, and
	// what happens when the time runs out.
	TimeLeft, Enter, TurnHint string
	// Over says the time to enter ran out; Again takes a new place.
	Over, Again string
}

// light is one traffic light of a verification method: Light is its value
// in /waitroom/api/signals, Word what the page calls it, Meaning what it
// means for the person choosing.
type light struct{ Light, Word, Meaning string }

var texts = map[string]text{
	"ko": {
		Title:    "코로나19 예방접종 사전예약 대기",
		Switch:   "English",
		Waiting:  "접속 대기 중입니다",
		Position: "내 대기 순번",
		Ahead:    "내 앞 대기 인원",
		ETA:      "예상 대기 시간",
		Progress: "대기 진행률",
		Hint:     "잠시만 기다려 주세요. 새로고침해도 대기 순서는 뒤로 밀리지 않습니다. 차례가 되면 예약 페이지로 자동으로 이동합니다.",
		NoScript: "대기 순번을 확인하려면 브라우저에서 자바스크립트를 켜 주세요.",
		Intro:    "본인 인증 후 대기열에 들어갑니다. 혼잡하지 않은(원활) 인증 수단을 선택하세요.",
		Lights: []light{
			{"green", "원활", "바로 인증할 수 있습니다"},
			{"yellow", "지연", "인증이 다소 느립니다"},
			{"red", "혼잡", "인증이 매우 느립니다"},
			{"off", "선택불가", "지금은 선택할 수 없습니다"},
		},
		OpensAt:    "예약 시작",
		Countdown:  "남은 시간",
		PreQueued:  "사전 대기 인원",
		DrawBefore: "예약이 시작되면 사전 대기자의 순서를 무작위로 추첨하므로, 먼저 인증해도 순서가 앞서지 않습니다. 추첨에 쓰는 난수(seed)의 SHA-256 해시값(",
		DrawAfter:  ")을 지금 공개하고 난수는 시작 후 공개하므로, 누구나 추첨이 공정했는지 확인할 수 있습니다.",
		DrawLink:   "추첨 검증",
		NotifyOn:   "차례가 되면 알림 받기",
		Sound:      "소리로도 알리기",
		NotifyHint: "다른 탭을 보거나 화면을 꺼도 대기 순번은 유지됩니다. 차례가 가까워지면 이 탭의 제목으로 알려 드립니다.",
		TimeLeft:   "남은 입장 시간",
		Enter:      "지금 예약 페이지로 들어가기",
		TurnHint:   "이 시간 안에 예약 페이지에 들어가세요. 그동안은 이 페이지로 돌아오면 바로 들어갑니다. 시간이 지나면 이번 차례는 끝나고, 다시 줄의 맨 뒤에서 새 대기 순번을 받아야 합니다.",
		Over:       "입장 가능 시간 안에 예약 페이지에 들어가지 않아 이번 차례가 끝났습니다. 예약하려면 새 대기 순번을 받아 줄의 맨 뒤에서 기다려 주세요.",
		Again:      "새 대기 순번 받기",
	},
	"en": {
		Title:    "COVID-19 vaccination booking: waiting room",
		Switch:   "한국어",
		Waiting:  "You are in the queue",
		Position: "Your place in line",
		Ahead:    "Ahead of you",
		ETA:      "Estimated wait",
		Progress: "Queue progress",
		Hint:     "Please wait. Refreshing this page does not cost you your place. When it is your turn, you are taken to the booking page automatically.",
		NoScript: "Please turn on JavaScript in your browser to see your place in line.",
		Intro:    "Verify who you are to join the queue. Pick an uncongested (green) method.",
		Lights: []light{
			{"green", "Smooth", "verify right away"},
			{"yellow", "Delayed", "verification is slow"},
			{"red", "Congested", "verification is very slow"},
			{"off", "Unavailable", "cannot be picked now"},
		},
		OpensAt:    "Booking opens",
		Countdown:  "Time left",
		PreQueued:  "In the pre-queue",
		DrawBefore: "When booking opens, the order of the pre-queue is drawn at random, so verifying early does not put you ahead. The SHA-256 hash of the draw's seed (",
		DrawAfter:  ") is published now and the seed itself after the opening, so anyone can check that the draw was fair.",
		DrawLink:   "verify the draw",
		NotifyOn:   "Notify me when it is my turn",
		Sound:      "Also play a sound",
		NotifyHint: "You keep your place if you switch tabs or lock your screen. When your turn is near, this tab's title tells you.",
		TimeLeft:   "Time left to enter",
		Enter:      "Go to the booking page now",
		TurnHint:   "Enter the booking page within this time; until then, coming back to this page takes you straight in. After it your turn is over, and you would take a new place at the back of the line.",
		Over:       "You did not enter the booking page within the time to enter, so this turn is over. To book, take a new place and wait at the back of the line.",
		Again:      "Take a new place in line",
	},
}

// pages holds the rendered page per language, built once at start-up.
var pages = render()

func render() map[string][]byte {
	tmpl := template.Must(template.ParseFS(files, "page.html"))
	out := make(map[string][]byte, len(texts))
	for lang, t := range texts {
		other := "en"
		if lang == "en" {
			other = "ko"
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, struct {
			Lang, Other string
			T           text
		}{lang, other, t}); err != nil {
			panic("web: render " + lang + " page: " + err.Error())
		}
		out[lang] = b.Bytes()
	}
	return out
}

// Page returns the waiting page for lang ("ko" or "en"; anything else means
// "ko"). The bytes are shared by every caller and must not be modified.
//
// The page is the same for every request: the script reads the return path
// from the query string and adds it to the language switch link.
func Page(lang string) []byte {
	if p, ok := pages[lang]; ok {
		return p
	}
	return pages["ko"]
}

type asset struct {
	body        []byte
	contentType string
	gzip        []byte // body compressed once, for the crowd of a storm night
}

var assets = map[string]asset{
	"turn.js": textAsset("static/turn.js", "text/javascript; charset=utf-8"),
	"app.js":  textAsset("static/app.js", "text/javascript; charset=utf-8"),
	"app.css": textAsset("static/app.css", "text/css; charset=utf-8"),
}

// textAsset reads an embedded text asset and compresses it.
func textAsset(name, contentType string) asset {
	body := mustRead(name)
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(body) //nolint:errcheck // into memory
	w.Close()     //nolint:errcheck // into memory
	return asset{body, contentType, b.Bytes()}
}

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: " + err.Error())
	}
	return b
}

// Asset returns the static file served at /waitroom/static/<name> ("app.js",
// "turn.js", "app.css", or the Korean web font's "fonts/<file>", see package webfont)
// with its Content-Type; ok is false for any other name. The body is shared
// by every caller and must not be modified.
func Asset(name string) (body []byte, contentType string, ok bool) {
	if f, found := strings.CutPrefix(name, "fonts/"); found {
		return webfont.Asset(f)
	}
	a, ok := assets[name]
	return a.body, a.contentType, ok
}

// Gzipped returns the static file Asset serves as name, compressed with
// gzip, for clients that accept it: the page's script and style (a third of
// their size), not the fonts (WOFF2 is compressed already). The body is
// shared by every caller and must not be modified.
func Gzipped(name string) ([]byte, bool) {
	a, ok := assets[name]
	return a.gzip, ok
}

// Lang returns "en" when an Accept-Language header value prefers English to
// Korean, and "ko" otherwise: on a tie, when neither is acceptable, and when
// the header is empty or malformed. Language ranges are weighed by their q
// value (default 1; q=0 means "not acceptable"); "*" stands for every
// language the header does not name; entries with a malformed q are ignored.
// Lang does not allocate.
func Lang(acceptLanguage []byte) string {
	ko, en, wild := -1, -1, 0 // weights in thousandths; -1 = not named
	for rest := acceptLanguage; len(rest) > 0; {
		var item []byte
		item, rest, _ = bytes.Cut(rest, []byte{','})
		tag, weight, _ := bytes.Cut(item, []byte{';'})
		q, ok := parseQ(weight)
		if !ok {
			continue
		}
		switch tag = bytes.TrimSpace(tag); {
		case isLang(tag, "ko"):
			ko = max(ko, q)
		case isLang(tag, "en"):
			en = max(en, q)
		case len(tag) == 1 && tag[0] == '*':
			wild = max(wild, q)
		}
	}
	if ko < 0 {
		ko = wild
	}
	if en < 0 {
		en = wild
	}
	if en > ko {
		return "en"
	}
	return "ko"
}

// isLang reports whether tag is the primary language lang or one of its
// subtags ("en", "en-US"; also the common non-standard "en_US").
func isLang(tag []byte, lang string) bool {
	if len(tag) < len(lang) || !bytes.EqualFold(tag[:len(lang)], []byte(lang)) {
		return false
	}
	return len(tag) == len(lang) || tag[len(lang)] == '-' || tag[len(lang)] == '_'
}

// parseQ parses the part of an Accept-Language entry after ';', which is
// empty or "q=" qvalue (RFC 9110, section 12.4.2), into thousandths.
func parseQ(w []byte) (int, bool) {
	w = bytes.TrimSpace(w)
	if len(w) == 0 {
		return 1000, true
	}
	if len(w) < 3 || (w[0] != 'q' && w[0] != 'Q') || w[1] != '=' {
		return 0, false
	}
	v := w[2:]
	if v[0] != '0' && v[0] != '1' {
		return 0, false
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q, true
	}
	if v[1] != '.' || len(v) > 5 {
		return 0, false
	}
	scale := 100
	for _, c := range v[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}
