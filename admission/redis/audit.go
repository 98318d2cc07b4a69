package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/admission"
)

// The operator console's records live under the site's hash tag, like a
// room's keys (a site and a room of the same name share a slot):
//
//	<Prefix>:{<site>}:audit      list of audit records, newest first, JSON
//	<Prefix>:{<site>}:board      hash of the board's keys and values
//	<Prefix>:{<site>}:gateways   hash of gateway id -> "<TIME in µs> <room>"

var (
	_ admission.Audit        = (*Store)(nil)
	_ admission.Board        = (*Store)(nil)
	_ admission.Fleet        = (*Store)(nil)
	_ admission.WindowEditor = (*Store)(nil)
)

var (
	fleetBeatScript = script("fleetbeat.lua")
	fleetScript     = script("fleet.lua")
	postScript      = script("post.lua")
)

func (s *Store) siteKey(site, what string) string { return s.roomKey(site) + ":" + what }

// auditJSON is an audit record as stored.
type auditJSON struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`
	Before string    `json:"before"`
	After  string    `json:"after"`
	From   string    `json:"from"`
	Via    string    `json:"via"`
}

// AppendAudit pushes r onto the site's list and trims it to AuditKept, in
// one MULTI/EXEC round trip.
func (s *Store) AppendAudit(ctx context.Context, site string, r admission.AuditRecord) error {
	b, err := json.Marshal(auditJSON(r))
	if err != nil {
		return err
	}
	key := s.siteKey(site, "audit")
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, key, b)
		p.LTrim(ctx, key, 0, admission.AuditKept-1)
		return nil
	})
	if err != nil {
		return translate("append audit", site, err)
	}
	return nil
}

func (s *Store) ListAudit(ctx context.Context, site string, n int) ([]admission.AuditRecord, error) {
	n = min(n, admission.AuditKept)
	if n <= 0 {
		return nil, nil
	}
	vals, err := s.client.LRange(ctx, s.siteKey(site, "audit"), 0, int64(n-1)).Result()
	if err != nil {
		return nil, translate("list audit", site, err)
	}
	out := make([]admission.AuditRecord, 0, len(vals))
	for _, v := range vals {
		var r auditJSON
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("redis list audit %q: record %.40q: %w", site, v, err)
		}
		out = append(out, admission.AuditRecord(r))
	}
	return out, nil
}

func (s *Store) Post(ctx context.Context, site, key, value string) (string, error) {
	if !admission.ValidBoardEntry(key, value) {
		return "", fmt.Errorf("redis post %q to the board of %q: %w", key, site, admission.ErrBoardEntry)
	}
	before, err := postScript.Run(ctx, s.client, []string{s.siteKey(site, "board")}, key, value).Text()
	if err != nil {
		return "", translate("post", site, err)
	}
	return before, nil
}

func (s *Store) Board(ctx context.Context, site string) (map[string]string, error) {
	m, err := s.client.HGetAll(ctx, s.siteKey(site, "board")).Result()
	if err != nil {
		return nil, translate("board", site, err)
	}
	return m, nil
}

// GatewayBeat runs fleetbeat.lua, which also forgets gateways silent for
// longer than GatewayKept.
func (s *Store) GatewayBeat(ctx context.Context, site, id, room string) error {
	err := fleetBeatScript.Run(ctx, s.client, []string{s.siteKey(site, "gateways")}, id, room, admission.GatewayKept.Microseconds()).Err()
	if err != nil {
		return translate("gateway beat", site, err)
	}
	return nil
}

func (s *Store) Gateways(ctx context.Context, site string, d time.Duration) ([]admission.GatewaySeen, time.Time, error) {
	v, err := fleetScript.Run(ctx, s.client, []string{s.siteKey(site, "gateways")}).Slice()
	if err != nil {
		return nil, time.Time{}, translate("gateways", site, err)
	}
	bad := fmt.Errorf("redis gateways %q: unexpected reply %v", site, v)
	if len(v) != 2 {
		return nil, time.Time{}, bad
	}
	t, ok1 := v[0].(int64)
	all, ok2 := v[1].([]any)
	if !ok1 || !ok2 || len(all)%2 != 0 {
		return nil, time.Time{}, bad
	}
	now := time.UnixMicro(t)
	d = min(d, admission.GatewayKept)
	var out []admission.GatewaySeen
	for i := 0; i < len(all); i += 2 {
		id, _ := all[i].(string)
		val, _ := all[i+1].(string)
		at, room, _ := strings.Cut(val, " ")
		us, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			return nil, time.Time{}, bad
		}
		if seen := time.UnixMicro(us); now.Sub(seen) <= d {
			out = append(out, admission.GatewaySeen{ID: id, Room: room, LastSeen: seen})
		}
	}
	slices.SortFunc(out, func(a, b admission.GatewaySeen) int { return strings.Compare(a.ID, b.ID) })
	return out, now, nil
}

// SetWindow runs window.lua: see admission.WindowEditor.
func (s *Store) SetWindow(ctx context.Context, room string, w admission.Window) (admission.State, error) {
	st, err := s.state(ctx, "set window", room, s.sc.window, micros(w.Opens), micros(w.Closes))
	if redis.HasErrorPrefix(err, "BADWINDOW") {
		return admission.State{}, fmt.Errorf("redis set window of %q: %w: %w", room, admission.ErrWindowChange, err)
	}
	return st, err
}
