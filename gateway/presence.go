package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// presence collects waiting people's promises to poll again (every status
// answer makes one: the poll_after it chose plus a grace) and hands them to
// the store in batches, so that release passes over people who left
// (admission.Presence) while a poll still costs no store round trip.
type presence struct {
	store admission.Presence
	grace time.Duration
	log   interface{ Warn(string, ...any) }

	mu      sync.Mutex
	room    string
	pending []admission.Beat
	spare   []admission.Beat
	failing bool
}

// maxPendingBeats bounds the promises held between two flushes (16 MiB).
// Beyond it new ones are dropped: a person whose promise was dropped keeps
// an older one or none, and none counts as present.
const maxPendingBeats = 1 << 20

// beatEvery is how often promises go to the store. A promise reaches the
// store this much later than the poll that made it; the grace covers it.
const beatEvery = 250 * time.Millisecond

// note records that the holder of pos in room promised to poll again by
// until. It is on the path of every status poll: no allocation once the
// buffer has grown, one short critical section.
func (p *presence) note(room string, pos int64, until time.Time) {
	p.mu.Lock()
	if p.room != room {
		// The gateway moved to the next window's room; the old room's
		// promises no longer matter.
		p.room, p.pending = room, p.pending[:0]
	}
	if len(p.pending) < maxPendingBeats {
		p.pending = append(p.pending, admission.Beat{Position: pos, Until: until.Add(p.grace)})
	}
	p.mu.Unlock()
}

// flush sends what was noted since the previous flush in one store call.
// If the store is down the batch is kept for the next try, before what came
// since so that later promises still win: a stored promise that expired
// while its holder kept polling through the outage would make them skipped.
func (p *presence) flush(ctx context.Context) {
	p.mu.Lock()
	room, batch := p.room, p.pending
	p.pending, p.spare = p.spare[:0], batch
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := p.store.Beat(ctx, room, batch)
	if err == nil {
		p.failing = false
		return
	}
	if !p.failing {
		p.log.Warn("could not record waiting people's polls; retrying", "room", room, "err", err)
		p.failing = true
	}
	p.mu.Lock()
	if p.room == room && len(batch)+len(p.pending) <= maxPendingBeats {
		merged := append(batch, p.pending...)
		p.pending, p.spare = merged, p.pending[:0]
	}
	p.mu.Unlock()
}

// run flushes every beatEvery until ctx ends.
func (p *presence) run(ctx context.Context) {
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c, cancel := context.WithTimeout(ctx, 2*beatEvery)
			p.flush(c)
			cancel()
		}
	}
}
