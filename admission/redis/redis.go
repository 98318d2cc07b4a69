// Package redis is the admission.Store on Redis (standalone, Sentinel or
// Cluster), shared by any number of gateways.
//
// A room is one hash, <Prefix>:{<room>}; the braces are a Cluster hash tag,
// so any key a room ever needs lands in the room's slot:
//
//	<Prefix>:{<room>}                  the room (see lib.lua)
//	<Prefix>:{<room>}:hb               waiting people's promises to poll again (Beat)
//	<Prefix>:{<room>}:gone             bitmap of the positions passed over as gone
//	<Prefix>:{<room>}:rejoin           their rejoin indexes, for those who came back (Admit)
//	<Prefix>:{<room>}:in               when each admitted place's holder was first let in (Enter)
//	<Prefix>:{<room>}:id:<identity>    a person's place (Claim): pos, pre, dev, verified
//	<Prefix>:{<room>}:vs:<bucket>      verification counts of one StatsBucket
//	<Prefix>:{<room>}:ended            stream of ended sessions
//
// Every method is one round trip. The room's methods and Claim are an
// embedded Lua script that reads the clock with Redis TIME, so the release
// rate is exact across gateways whatever their clocks; verification counts
// are pipelines and EndedSince one XRANGE, which need no clock.
// Scripts run with EVALSHA and fall back to EVAL when Redis lost its script
// cache (a restart, SCRIPT FLUSH). Scripts that write after TIME need a Redis
// that replicates scripts by their effects: the default since 5.0, the only
// way since 7.0. Tested with 7.0.15.
package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/admission"
)

var (
	_ admission.Store         = (*Store)(nil)
	_ admission.People        = (*Store)(nil)
	_ admission.Verifications = (*Store)(nil)
	_ admission.Sessions      = (*Store)(nil)
	_ admission.Reseeder      = (*Store)(nil)
	_ admission.Presence      = (*Store)(nil)
	_ admission.Entries       = (*Store)(nil)
)

// Options configure a Store. The zero value of every field but Addrs means
// its default.
type Options struct {
	// Addrs are host:port addresses: one for a standalone server, two or more
	// seed nodes for a Cluster (a single address is taken as standalone), or
	// the Sentinels when MasterName is set.
	Addrs []string
	// MasterName is the master set the Sentinels watch; empty: no Sentinel.
	MasterName string
	// Username and Password authenticate to Redis (ACL or requirepass).
	Username, Password string
	// DB is the database of a standalone or Sentinel server; Cluster has only 0.
	DB int
	// TLS enables TLS with this configuration; nil means plain TCP.
	TLS *tls.Config
	// Prefix starts every key. It must not contain '{' or '}', which would
	// change the Cluster hash tag. Default "waitroom".
	Prefix string
	// DialTimeout bounds connecting, default 2 s; ReadTimeout and
	// WriteTimeout bound each command's socket reads and writes, default
	// 500 ms. A gateway must fail fast and closed, not hang on a sick Redis.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the connections per Redis node; 0 means go-redis's default,
	// 10 per GOMAXPROCS.
	PoolSize int
	// Clock is the store's clock; the zero value is real time. A simulated
	// clock (load tests) must be the same on every gateway of a fleet.
	Clock admission.Clock
	// Release shapes release, in store time (the Clock's); every gateway of
	// a fleet must use the same. The zero value means the defaults.
	Release admission.ReleaseOptions
	// Logger receives go-redis's own messages. go-redis has one process-wide
	// logger, so the last Store made with a Logger sets it; nil leaves it.
	Logger *slog.Logger
}

// Store is an admission.Store on Redis. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
	sc     scripts
}

// New returns a Store for o. It does not connect: Redis need not be up until
// the first call, and calls fail with admission.ErrUnavailable while it is
// down.
//
// Commands are not retried and a failed dial is not redialled within a call:
// a gateway would rather answer "try again" at once than hold a request, and
// a Join whose reply was lost must not take a second position. Deadlines of
// the callers' contexts apply to the socket as well.
func New(o Options) (*Store, error) {
	if len(o.Addrs) == 0 {
		return nil, errors.New("redis store: no address")
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redis store: key prefix %q contains a brace", o.Prefix)
	}
	prefix := cmp.Or(o.Prefix, "waitroom")
	if o.Logger != nil {
		redis.SetLogger(slogAdapter{o.Logger})
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 o.Addrs,
		MasterName:            o.MasterName,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		TLSConfig:             o.TLS,
		DialTimeout:           cmp.Or(o.DialTimeout, 2*time.Second),
		ReadTimeout:           cmp.Or(o.ReadTimeout, 500*time.Millisecond),
		WriteTimeout:          cmp.Or(o.WriteTimeout, 500*time.Millisecond),
		ContextTimeoutEnabled: true,
		PoolSize:              o.PoolSize,
		MaxRetries:            -1, // go-redis: -1 means none; 0 means 3
		DialerRetries:         1,
	})
	return &Store{client: client, prefix: prefix, sc: newScripts(o.Clock, o.Release.WithDefaults())}, nil
}

// slogAdapter sends go-redis's own messages (dial failures, pool notes)
// into the gateway's structured log instead of plain text on stderr.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	a.log.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// scripts are the scripts that read the store's clock or release, built
// for its Clock and ReleaseOptions.
type scripts struct {
	init, join, advance, state, change, reseed, claim, window, admit, enter *redis.Script
}

func newScripts(c admission.Clock, o admission.ReleaseOptions) scripts {
	at := func(name string) *redis.Script { return scriptAt(name, c, o) }
	return scripts{
		init:    at("init.lua"),
		join:    at("join.lua"),
		advance: at("advance.lua"),
		state:   at("state.lua"),
		change:  at("change.lua"),
		reseed:  at("reseed.lua"),
		claim:   at("claim.lua"),
		window:  at("window.lua"),
		admit:   at("admit.lua"),
		enter:   at("enter.lua"),
	}
}

// endScript needs no clock: its times come from the gateway.
var endScript = script("end.lua")

//go:embed *.lua
var luaFiles embed.FS

// script is a script on real time with the default release options.
func script(name string) *redis.Script {
	return scriptAt(name, admission.Clock{}, admission.ReleaseOptions{}.WithDefaults())
}

// scriptAt is the script in name preceded by c and o as lib.lua expects
// them and by lib.lua.
func scriptAt(name string, c admission.Clock, o admission.ReleaseOptions) *redis.Script {
	lib, err := luaFiles.ReadFile("lib.lua")
	if err != nil {
		panic(err)
	}
	src, err := luaFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	scale, origin := int64(1), int64(0)
	if c.Simulated() {
		scale, origin = c.Scale, c.Origin.UnixMicro()
	}
	head := fmt.Sprintf("local SCALE, ORIGIN, MAX_STEP, GRACE = %d, %d, %d, %d\n", scale, origin, o.MaxStep.Microseconds(), o.OutageGrace.Microseconds())
	return redis.NewScript(head + string(lib) + "\n" + string(src))
}

func (s *Store) Init(ctx context.Context, room string, set admission.Settings) (admission.State, error) {
	if !admission.ValidRate(set.RatePerHour) {
		return admission.State{}, fmt.Errorf("redis init %q: %w", room, admission.ErrInvalidRate)
	}
	return s.state(ctx, "init", room, s.sc.init, set.RatePerHour, flag(set.Paused), newEpoch(), 0, 0, "", "")
}

// Join is admission.Store's. In a room with a window it fails with
// admission.ErrClosed once the window closed and with a plain error before
// it opens, since the first positions belong to the pre-queue's draw
// (people claim places there with Claim); at or after the opening it
// freezes the pre-queue first, like Advance.
func (s *Store) Join(ctx context.Context, room string) (int64, error) {
	pos, err := s.sc.join.Run(ctx, s.client, s.keys(room)).Int64()
	if err != nil {
		return 0, translate("join", room, err)
	}
	return pos, nil
}

func (s *Store) Advance(ctx context.Context, room string) (admission.State, error) {
	return s.state(ctx, "advance", room, s.sc.advance)
}

func (s *Store) State(ctx context.Context, room string) (admission.State, error) {
	return s.state(ctx, "state", room, s.sc.state)
}

func (s *Store) SetRate(ctx context.Context, room string, perHour int64) (admission.State, error) {
	if !admission.ValidRate(perHour) {
		return admission.State{}, fmt.Errorf("redis set rate of %q to %d: %w", room, perHour, admission.ErrInvalidRate)
	}
	return s.state(ctx, "set rate", room, s.sc.change, "rate", perHour)
}

func (s *Store) SetPaused(ctx context.Context, room string, paused bool) (admission.State, error) {
	return s.state(ctx, "set paused", room, s.sc.change, "paused", flag(paused))
}

// Reseed restores room after Redis lost it, from st as a gateway last saw it
// (its Issued, Admitted, RatePerHour, Paused, Epoch, Window and Draw; Now is
// ignored).
//
// If the room is missing, as after a restart without persistence, it is
// created from st, with Admitted capped at Issued, and the release clock
// starting now; its counts of people passed over and rejoining come back
// too, so State.Released never goes back, though the positions passed over
// are forgotten (their holders, if they come back, enter without the
// rejoin line). If it exists, because another gateway reseeded or joined it
// first, Issued is raised to at least st.Issued, Draw.PreQueued to at least
// st.Draw.PreQueued, and Admitted to at least st.Admitted but never beyond
// Issued; its rate, pause, epoch, window, commitment and seed stay. Either
// way no position or pre-queue index up to st's is handed out again (a
// caller that may have missed recent ones pads st, as the Controller pads
// Issued), and no admitted person loses admission. It returns the state
// after.
//
// A windowed room lost before its draw comes back with its commitment but
// without its seed, which no gateway was shown; its Draw.Seed stays empty.
// People's places (Claim) are not restored: they claim again.
// Errors: ErrInvalidRate, ErrUnavailable, and a plain error for an empty
// epoch or negative counters.
func (s *Store) Reseed(ctx context.Context, room string, st admission.State) (admission.State, error) {
	if !admission.ValidRate(st.RatePerHour) {
		return admission.State{}, fmt.Errorf("redis reseed %q: %w", room, admission.ErrInvalidRate)
	}
	if st.Epoch == "" || st.Issued < 0 || st.Admitted < 0 || st.Draw.PreQueued < 0 {
		return admission.State{}, fmt.Errorf("redis reseed %q: invalid state (epoch %q, issued %d, admitted %d, pre-queued %d)",
			room, st.Epoch, st.Issued, st.Admitted, st.Draw.PreQueued)
	}
	return s.state(ctx, "reseed", room, s.sc.reseed, st.Issued, st.Admitted, st.RatePerHour, flag(st.Paused), st.Epoch,
		micros(st.Window.Opens), micros(st.Window.Closes), st.Draw.PreQueued, flag(st.Draw.Drawn), st.Draw.Commitment, st.Draw.Seed,
		st.Rejoined, st.RejoinAdmitted, st.Skipped)
}

// Close closes the connections to Redis; later calls fail with ErrUnavailable.
func (s *Store) Close() error { return s.client.Close() }

// Beat is admission.Presence': one BITFIELD of u32 promises at
// <room>:hb, in the room's Cluster slot. It does not check that the room
// exists: a promise for a room that is gone is never read.
func (s *Store) Beat(ctx context.Context, room string, beats []admission.Beat) error {
	if len(beats) == 0 {
		return nil
	}
	args := make([]any, 0, 2+4*len(beats))
	args = append(args, "BITFIELD", s.roomKey(room)+":hb")
	for _, b := range beats {
		if b.Position <= 0 {
			continue
		}
		args = append(args, "SET", "u32", "#"+strconv.FormatInt(b.Position, 10), admission.BeatSecond(b.Until))
	}
	if err := s.client.Do(ctx, args...).Err(); err != nil {
		return translate("beat", room, err)
	}
	return nil
}

// Admit is admission.Presence': one script reading the room, the bitmap of
// positions passed over and, for those, the rejoin line.
func (s *Store) Admit(ctx context.Context, room string, position int64) (int64, error) {
	rejoin, err := s.sc.admit.Run(ctx, s.client, s.keys(room), position).Int64()
	if err != nil {
		return 0, translate("admit", room, err)
	}
	return rejoin, nil
}

// Enter is admission.Entries': one script reading the room and the
// position's entry.
func (s *Store) Enter(ctx context.Context, room string, position int64, at time.Time) (time.Time, error) {
	first, err := s.sc.enter.Run(ctx, s.client, s.keys(room), position, min(max(at.Unix(), 1), 1<<32-1)).Int64()
	if err != nil {
		return time.Time{}, translate("enter", room, err)
	}
	return time.Unix(first, 0), nil
}

func (s *Store) keys(room string) []string { return []string{s.roomKey(room)} }

func (s *Store) roomKey(room string) string { return s.prefix + ":{" + room + "}" }

// state runs a script that replies with a room's state.
func (s *Store) state(ctx context.Context, op, room string, sc *redis.Script, args ...any) (admission.State, error) {
	v, err := sc.Run(ctx, s.client, s.keys(room), args...).Slice()
	if err != nil {
		return admission.State{}, translate(op, room, err)
	}
	st, err := parseState(v)
	if err != nil {
		return admission.State{}, fmt.Errorf("redis %s %q: %w", op, room, err)
	}
	return st, nil
}

// parseState decodes lib.lua's reply: issued, admitted, rate, paused (0 or
// 1), epoch, TIME in microseconds, opens and closes (microseconds, 0: none),
// prequeued, drawn (0 or 1), commitment, seed ("" until drawn), skipped,
// rejoined, rejoin_admitted and calm (microseconds, 0: none).
func parseState(v []any) (admission.State, error) {
	const fields = 16
	if len(v) != fields {
		return admission.State{}, fmt.Errorf("unexpected reply %v", v)
	}
	var n [fields]int64
	var str [fields]string
	for i, x := range v {
		var ok bool
		switch i {
		case 4, 10, 11:
			str[i], ok = x.(string)
		default:
			n[i], ok = x.(int64)
		}
		if !ok {
			return admission.State{}, fmt.Errorf("unexpected reply %v", v)
		}
	}
	return admission.State{
		Issued: n[0], Admitted: n[1], Skipped: n[12], Rejoined: n[13], RejoinAdmitted: n[14], OutageUntil: fromMicros(n[15]),
		RatePerHour: n[2], Paused: n[3] == 1,
		Epoch: str[4], Now: time.UnixMicro(n[5]),
		Window: admission.Window{Opens: fromMicros(n[6]), Closes: fromMicros(n[7])},
		Draw:   admission.Draw{PreQueued: n[8], Drawn: n[9] == 1, Commitment: str[10], Seed: str[11]},
	}, nil
}

// micros is t in Unix microseconds, the scripts' unit; 0 for the zero time
// (no bound).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros undoes micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// translate turns a Redis failure into the admission errors. An unavailable
// error keeps the original for logs and errors.Is: a network timeout,
// context.Canceled, a LOADING reply.
func translate(op, room string, err error) error {
	switch {
	case redis.HasErrorPrefix(err, "NOTINIT"):
		return fmt.Errorf("redis %s %q: %w", op, room, admission.ErrNotInitialized)
	case redis.HasErrorPrefix(err, "CLOSED"):
		return fmt.Errorf("redis %s %q: %w", op, room, admission.ErrClosed)
	case redis.HasErrorPrefix(err, "NOTREACHED"):
		return fmt.Errorf("redis %s %q: %w", op, room, admission.ErrNotReached)
	case unavailable(err):
		return fmt.Errorf("redis %s %q: %w: %w", op, room, admission.ErrUnavailable, err)
	default:
		return fmt.Errorf("redis %s %q: %w", op, room, err)
	}
}

// notServing are the prefixes of Redis error replies that mean the server
// is up but cannot serve this command now: loading its data, cluster or
// master down, a replica after a failover, slots moving, busy with a script,
// out of memory or connections.
var notServing = []string{
	"LOADING", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "TRYAGAIN", "MOVED", "ASK",
	"BUSY", "NOREPLICAS", "OOM", "max number of clients",
}

// unavailable reports whether err means Redis cannot serve now. Every error
// that is not a Redis reply counts: refused or timed out connections, a
// cancelled or expired context, a closed client. Other replies (WRONGPASS,
// NOPERM, WRONGTYPE, a script error) are misconfigurations or bugs that
// waiting will not fix, and are returned as they are.
func unavailable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	for _, p := range notServing {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// newEpoch names a new room's queue. The script cannot draw it: Redis
// scripts have no reliable randomness.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
