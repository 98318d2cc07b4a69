package inmem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/waitroom/waitroom/admission"
)

var (
	_ admission.Audit        = (*Store)(nil)
	_ admission.Board        = (*Store)(nil)
	_ admission.Fleet        = (*Store)(nil)
	_ admission.WindowEditor = (*Store)(nil)
)

// console is a Store's share of the operator console: audit logs, boards
// and heartbeats, per site.
type console struct {
	mu     sync.Mutex
	audit  map[string][]admission.AuditRecord // oldest first
	boards map[string]map[string]string
	beats  map[string]map[string]admission.GatewaySeen // site → gateway id
}

// console returns s's console records, made on first use.
func (s *Store) console() *console {
	s.consoleOnce.Do(func() {
		s.consoleRecords = &console{
			audit: map[string][]admission.AuditRecord{}, boards: map[string]map[string]string{},
			beats: map[string]map[string]admission.GatewaySeen{},
		}
	})
	return s.consoleRecords
}

// AppendAudit is admission.Audit's. The log is trimmed to AuditKept when it
// has grown to twice that, so an append costs amortized O(1).
func (s *Store) AppendAudit(_ context.Context, site string, r admission.AuditRecord) error {
	c := s.console()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := append(c.audit[site], r)
	if len(l) >= 2*admission.AuditKept {
		l = slices.Clone(l[len(l)-admission.AuditKept:])
	}
	c.audit[site] = l
	return nil
}

func (s *Store) ListAudit(_ context.Context, site string, n int) ([]admission.AuditRecord, error) {
	c := s.console()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.audit[site]
	n = max(0, min(n, admission.AuditKept, len(l)))
	out := slices.Clone(l[len(l)-n:])
	slices.Reverse(out)
	return out, nil
}

func (s *Store) Post(_ context.Context, site, key, value string) (string, error) {
	if !admission.ValidBoardEntry(key, value) {
		return "", fmt.Errorf("post %q to the board of %q: %w", key, site, admission.ErrBoardEntry)
	}
	c := s.console()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boards[site]
	if b == nil {
		b = map[string]string{}
		c.boards[site] = b
	}
	before := b[key]
	if value == "" {
		delete(b, key)
	} else {
		b[key] = strings.Clone(value)
	}
	return before, nil
}

func (s *Store) Board(_ context.Context, site string) (map[string]string, error) {
	c := s.console()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.boards[site]))
	for k, v := range c.boards[site] {
		out[k] = v
	}
	return out, nil
}

// GatewayBeat is admission.Fleet's. Gateways silent for longer than
// GatewayKept are forgotten on the way.
func (s *Store) GatewayBeat(_ context.Context, site, id, room string) error {
	now := s.Now()
	c := s.console()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.beats[site]
	if b == nil {
		b = map[string]admission.GatewaySeen{}
		c.beats[site] = b
	}
	for k, g := range b {
		if now.Sub(g.LastSeen) > admission.GatewayKept {
			delete(b, k)
		}
	}
	b[id] = admission.GatewaySeen{ID: id, Room: room, LastSeen: now}
	return nil
}

func (s *Store) Gateways(_ context.Context, site string, d time.Duration) ([]admission.GatewaySeen, time.Time, error) {
	now := s.Now()
	d = min(d, admission.GatewayKept)
	c := s.console()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []admission.GatewaySeen
	for _, g := range c.beats[site] {
		if now.Sub(g.LastSeen) <= d {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b admission.GatewaySeen) int { return strings.Compare(a.ID, b.ID) })
	return out, now, nil
}

// SetWindow is admission.WindowEditor's.
func (s *Store) SetWindow(_ context.Context, name string, w admission.Window) (admission.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return admission.State{}, err
	}
	now := s.Now()
	r.release(now, s.Release.WithDefaults())
	if err := admission.CheckWindowChange(r.window, r.draw.Drawn, w); err != nil {
		return admission.State{}, fmt.Errorf("set window of %q: %w", name, err)
	}
	before := r.state(now)
	r.window = w
	return before, nil
}
