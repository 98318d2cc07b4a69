package loadtest

import (
	"encoding/json"
	"testing"
)

// parseStanding gives what encoding/json gives, for the gateway's answers
// and for what it hands over to encoding/json.
func TestParseStanding(t *testing.T) {
	for _, body := range []string{
		`{"ticket":"a.b.c","state":"waiting","position":12,"ahead":11,"eta_seconds":30,"poll_after_ms":5876,"paused":false,"rate_per_hour":2000000}`,
		`{"ticket":"a.b.c","state":"admitted","position":1,"ahead":0,"eta_seconds":0,"poll_after_ms":0,"paused":true,"rate_per_hour":1,"admission":"x.y.z","redirect":"/book"}`,
		` { "state" : "waiting" , "position" : -3 } `,
		`{"redirect":"/a\u0026b","state":"admitted"}`,         // escapes: encoding/json
		`{"state":"waiting","extra":{"nested":[1,2]}}`,        // nesting: encoding/json
		`{"state":"waiting","eta_seconds":null,"position":7}`, // null: encoding/json
		`{}`,
	} {
		var got, want standing
		if err := parseStanding([]byte(body), &got); err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", body, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"state":"waiting"`, `{"state":"waiting",}`, `{"position":1.5}`, `{"position":99999999999999999999}`,
		`{"paused":trueish}`, `[1]`, `{"state":"waiting"} x`, `<html>`} {
		var s standing
		if err := parseStanding([]byte(bad), &s); err == nil {
			t.Errorf("%q accepted as %+v", bad, s)
		}
	}
}

func BenchmarkParseStanding(b *testing.B) {
	body := []byte(`{"ticket":"eyJhbGciOiJIUzI1NiJ9.eyJwb3MiOjEyfQ.c2lnbmF0dXJl","state":"waiting","position":123456,"ahead":123455,"eta_seconds":222,"poll_after_ms":44123,"paused":false,"rate_per_hour":2000000}`)
	b.ReportAllocs()
	var s standing
	for b.Loop() {
		if err := parseStanding(body, &s); err != nil {
			b.Fatal(err)
		}
	}
}
