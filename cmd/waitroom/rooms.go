package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/config"
	"github.com/waitroom/waitroom/draw"
	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/ticket"
)

// rooms opens the rooms the gateway serves: one fixed room, or, with an
// eligibility schedule, one room per window (each with its own counters,
// pre-queue and draw), moving to the next window as the schedule does.
type rooms struct {
	store    admission.Store
	cfg      config.Config
	keys     []ticket.HMACKey
	schedule *eligibility.Schedule // nil: one fixed room
	log      *slog.Logger
	now      func() time.Time // the gateway's clock, simulated or not
}

// window is the window to serve at now: the one open, else the next to open
// (its pre-queue), else the last one (closed: people are told so).
func (rs *rooms) window(now time.Time) eligibility.Window {
	if w, ok := rs.schedule.Current(now); ok {
		return w
	}
	if w, ok := rs.schedule.Next(now); ok {
		return w
	}
	ws := rs.schedule.Windows()
	last := ws[0]
	for _, w := range ws {
		if w.Closes.After(last.Closes) {
			last = w
		}
	}
	return last
}

// open creates or joins the room for now and starts its controller, which
// runs until the returned stop is called.
func (rs *rooms) open(ctx context.Context, now time.Time) (*gateway.Room, context.CancelFunc, error) {
	name, win := rs.cfg.Room, eligibility.Window{}
	set := admission.Settings{RatePerHour: rs.cfg.RatePerHour, Paused: rs.cfg.Paused}
	init := func(c context.Context) (admission.State, error) { return rs.store.Init(c, name, set) }
	if rs.schedule != nil {
		win = rs.window(now)
		name = rs.cfg.Room + "-" + win.ID
		people, ok := rs.store.(admission.People)
		if !ok {
			return nil, nil, errors.New("the admission store does not support identity-first rooms")
		}
		seed := draw.NewSeed() // used only if this gateway creates the room
		init = func(c context.Context) (admission.State, error) {
			return people.InitWindow(c, name, set, admission.Window{Opens: win.Opens, Closes: win.Closes}, seed.Commitment(), seed.String())
		}
	}
	st, err := retryUnavailable(ctx, rs.log, init)
	if err != nil {
		return nil, nil, fmt.Errorf("initialise room %q: %w", name, err)
	}
	qc, err := ticket.NewQueueCodec(rs.keys, ticket.QueueOptions{Issuer: rs.cfg.Ticket.Issuer, Room: name, Epoch: st.Epoch, TTL: rs.cfg.TicketTTL})
	if err != nil {
		return nil, nil, err
	}
	ctl := admission.NewController(rs.store, name, st, admission.ControllerOptions{
		Interval: rs.cfg.Queue.TickInterval(), ExpectedLeaveShare: rs.cfg.Queue.ExpectedLeaveShare, Logger: rs.log})
	cctx, stop := context.WithCancel(ctx)
	go ctl.Run(cctx)
	rs.log.Info("serving room", "room", name, "window", win.ID, "opens", win.Opens, "closes", win.Closes,
		"rate_per_hour", st.RatePerHour, "paused", st.Paused)
	return &gateway.Room{Name: name, Controller: ctl, Queue: qc, Window: win.ID}, stop, nil
}

// follow moves gw to the next window's room when the schedule does, until
// ctx ends. The previous room's controller runs on for a minute, for the
// polls already on their way.
func (rs *rooms) follow(ctx context.Context, gw *gateway.Gateway, stop context.CancelFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			return
		case <-t.C:
		}
		if rs.window(rs.now()).ID == gw.Room().Window {
			continue
		}
		r, next, err := rs.open(ctx, rs.now())
		if err != nil {
			rs.log.Error("cannot open the next window's room; still serving the previous one", "err", err)
			continue
		}
		gw.SetRoom(r)
		time.AfterFunc(time.Minute, stop)
		stop = next
	}
}

// retryUnavailable runs init until it succeeds, fails for another reason
// than an unavailable store, or 15 s pass: a fleet starting together may
// find its Redis not up yet, and without the room's epoch a gateway cannot
// check a single ticket.
func retryUnavailable(ctx context.Context, log *slog.Logger, init func(context.Context) (admission.State, error)) (admission.State, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := init(c)
		cancel()
		if err == nil || !errors.Is(err, admission.ErrUnavailable) || time.Now().After(deadline) {
			return st, err
		}
		log.Warn("admission store unavailable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
