package admission

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The operator console's shared records. A console talks to one gateway, but
// what it shows and changes concerns the whole fleet, so the stores keep it:
// the audit log of operator changes, a board of short shared settings (the
// message on the waiting page, forced traffic lights), and every gateway's
// heartbeat. They are kept per site, the configured room name, not per
// room: with an eligibility schedule every window is a room of its own, and
// the log and the message outlive each of them.

// AuditRecord is one operator change.
type AuditRecord struct {
	At     time.Time
	What   string // what changed: "rate", "pause", "light kakao", "message", "window", ...
	Before string // the setting before the change, as the console shows it
	After  string // and after
	From   string // the client's address, or the source ("config file")
	Via    string // how the operator signed in: "bearer", "console", or "config"
}

// AuditKept is how many records a site's audit log keeps; older ones are
// dropped as new ones arrive.
const AuditKept = 1000

// Audit keeps a site's log of operator changes.
type Audit interface {
	// AppendAudit adds r to site's log, dropping the oldest records beyond
	// AuditKept. Errors: ErrUnavailable.
	AppendAudit(ctx context.Context, site string, r AuditRecord) error
	// ListAudit returns the newest n records of site (at most AuditKept),
	// newest first. Errors: ErrUnavailable.
	ListAudit(ctx context.Context, site string, n int) ([]AuditRecord, error)
}

// Limits of a Board. They keep every value small enough for the one round
// trip a gateway makes each second to read the whole board.
const (
	MaxBoardKey   = 64   // bytes
	MaxBoardValue = 1024 // bytes
)

// ErrBoardEntry is a board key or value out of bounds.
var ErrBoardEntry = errors.New("board key or value too long or key empty")

// Board holds a site's short shared settings as keys and values, which every
// gateway reads about once a second.
type Board interface {
	// Post sets key to value, or deletes key when value is "", and returns
	// the value before ("" for none) in one atomic step.
	// Errors: ErrBoardEntry, ErrUnavailable.
	Post(ctx context.Context, site, key, value string) (before string, err error)
	// Board returns every key of site and its value. Errors: ErrUnavailable.
	Board(ctx context.Context, site string) (map[string]string, error)
}

// ValidBoardEntry reports whether a store accepts key and value.
func ValidBoardEntry(key, value string) bool {
	return key != "" && len(key) <= MaxBoardKey && len(value) <= MaxBoardValue
}

// GatewaySeen is a gateway's last heartbeat.
type GatewaySeen struct {
	ID       string
	Room     string    // the room it serves
	LastSeen time.Time // by the store's clock
}

// GatewayKept is how long a store remembers a gateway after its last
// heartbeat.
const GatewayKept = time.Minute

// Fleet records which gateways are alive, from the heartbeat each sends
// about once a second. Times are the store's, so gateways with skewed
// clocks compare fairly. (Heartbeats, by contrast, are people's.)
type Fleet interface {
	// GatewayBeat records that gateway id, serving room, is alive now.
	// Errors: ErrUnavailable.
	GatewayBeat(ctx context.Context, site, id, room string) error
	// Gateways returns the gateways of site seen within the last d (at most
	// GatewayKept), ordered by id, and the store's clock now.
	// Errors: ErrUnavailable.
	Gateways(ctx context.Context, site string, d time.Duration) ([]GatewaySeen, time.Time, error)
}

// ErrWindowChange means a window change that SetWindow refuses.
var ErrWindowChange = errors.New("window change not allowed")

// WindowEditor changes a room's window while it runs.
type WindowEditor interface {
	// SetWindow releases what is due up to now under the old window, then
	// gives room the window w, and returns the state before the change. The
	// opening can move only while the room has not opened (it has an
	// opening, and the pre-queue is not drawn), and never to zero: the
	// pre-queue's people are drawn at it. Once the room opened, or in a room
	// open from creation, w.Opens must equal the current opening. w.Closes
	// is zero (never) or after w.Opens; a closing in the past closes the
	// room now. Errors: ErrWindowChange, ErrNotInitialized, ErrUnavailable.
	SetWindow(ctx context.Context, room string, w Window) (State, error)
}

// CheckWindowChange is the rule of SetWindow for stores that run it in Go:
// cur is the room's window and drawn its Draw.Drawn, after releasing what
// was due.
func CheckWindowChange(cur Window, drawn bool, w Window) error {
	opened := cur.Opens.IsZero() || drawn
	switch {
	case opened && !w.Opens.Equal(cur.Opens):
		return fmt.Errorf("%w: the room has opened, so its opening can no longer change", ErrWindowChange)
	case !opened && w.Opens.IsZero():
		return fmt.Errorf("%w: the room has not opened yet and needs an opening, when its pre-queue is drawn", ErrWindowChange)
	case !w.Closes.IsZero() && !w.Closes.After(w.Opens):
		return fmt.Errorf("%w: the closing must come after the opening", ErrWindowChange)
	}
	return nil
}
