package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// standing is a join or status answer.
type standing struct {
	Ticket      string `json:"ticket"`
	State       string `json:"state"`
	Position    int64  `json:"position"`
	Eta         int64  `json:"eta_seconds"`
	PollAfterMS int64  `json:"poll_after_ms"`
	Paused      bool   `json:"paused"`
	Rejoining   bool   `json:"rejoining"` // passed over as gone, back in the rejoin line
	Admission   string `json:"admission"`
	Redirect    string `json:"redirect"`
}

var errNotFlat = errors.New("not a flat JSON object")

// parseStanding reads a join or status answer into s. The gateway writes a
// flat object of strings, integers and booleans, which this reads without
// reflection: the loadtest parses tens of thousands a second on the
// machine it loads. Anything else (escapes, nesting, floats, null) goes to
// encoding/json. Keys match exactly (encoding/json would also accept
// "State"; the gateway never writes such keys).
func parseStanding(b []byte, s *standing) error {
	*s = standing{}
	if bytes.IndexByte(b, '\\') >= 0 || parseFlat(b, s) != nil {
		*s = standing{}
		return json.Unmarshal(b, s)
	}
	return nil
}

func parseFlat(b []byte, s *standing) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotFlat
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		key, j, err := flatString(b, i)
		if err != nil {
			return err
		}
		if i = skipSpace(b, j); i >= len(b) || b[i] != ':' {
			return errNotFlat
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return errNotFlat
		}
		switch c := b[i]; {
		case c == '"':
			v, j, err := flatString(b, i)
			if err != nil {
				return err
			}
			switch string(key) {
			case "ticket":
				s.Ticket = string(v)
			case "state":
				s.State = string(v)
			case "admission":
				s.Admission = string(v)
			case "redirect":
				s.Redirect = string(v)
			}
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
			if err != nil {
				return errNotFlat
			}
			switch string(key) {
			case "position":
				s.Position = n
			case "eta_seconds":
				s.Eta = n
			case "poll_after_ms":
				s.PollAfterMS = n
			}
			i = j
		case bytes.HasPrefix(b[i:], []byte("true")), bytes.HasPrefix(b[i:], []byte("false")):
			v := c == 't'
			switch string(key) {
			case "paused":
				s.Paused = v
			case "rejoining":
				s.Rejoining = v
			}
			if v {
				i += len("true")
			} else {
				i += len("false")
			}
		default:
			return errNotFlat // null, nesting, anything unusual
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return errNotFlat
		}
		if b[i] == '}' {
			return trailing(b, i+1)
		}
		if b[i] != ',' {
			return errNotFlat
		}
		i = skipSpace(b, i+1)
	}
}

// flatString reads a string without escapes at b[i] and returns its
// content and the index after it.
func flatString(b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, errNotFlat
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 {
		return nil, 0, errNotFlat
	}
	v := b[i+1 : i+1+end]
	for _, c := range v {
		if c < 0x20 {
			return nil, 0, errNotFlat
		}
	}
	return v, i + 2 + end, nil
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errNotFlat
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
