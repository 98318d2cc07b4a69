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
	// later[(seq+d-1) % len(later)] holds the promises to send d flushes
	// from now (see noteLater); seq counts flushes.
	later   [leftDelay][]admission.Beat
	seq     int
	failing bool
}

// A page's beacons (it goes to sleep, or is unloaded) may reach another
// gateway than its last poll did, milliseconds apart, and the store keeps
// whichever promise is written last. So a beacon's promise waits a few
// flushes: by then every promise the page made before it, on any gateway
// whose flushes keep time, has been written. Leaving follows going to sleep
// (a closed tab is first hidden), so it waits longer.
const (
	sleepDelay = 2 // flushes, half a second to three quarters
	leftDelay  = 4
)

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
	p.follow(room)
	if len(p.pending) < maxPendingBeats {
		p.pending = append(p.pending, admission.Beat{Position: pos, Until: until.Add(p.grace)})
	}
	p.mu.Unlock()
}

// noteLater is note for a promise to send flushes (1..leftDelay) flushes
// from now, after whatever this gateway noted meanwhile.
func (p *presence) noteLater(room string, pos int64, until time.Time, flushes int) {
	p.mu.Lock()
	p.follow(room)
	slot := &p.later[(p.seq+flushes-1)%leftDelay]
	if len(*slot) < maxPendingBeats {
		*slot = append(*slot, admission.Beat{Position: pos, Until: until.Add(p.grace)})
	}
	p.mu.Unlock()
}

// follow drops the promises noted for another room: the gateway moved to
// the next window's room, and the old room's no longer matter. Called with
// mu held.
func (p *presence) follow(room string) {
	if p.room != room {
		p.room, p.pending, p.later = room, p.pending[:0], [leftDelay][]admission.Beat{}
	}
}

// flush sends what was noted since the previous flush in one store call.
// If the store is down the batch is kept for the next try, before what came
// since so that later promises still win: a stored promise that expired
// while its holder kept polling through the outage would make them skipped.
func (p *presence) flush(ctx context.Context) {
	p.mu.Lock()
	room, batch := p.room, p.pending
	p.pending, p.spare = p.spare[:0], batch
	if slot := &p.later[p.seq%leftDelay]; len(*slot) > 0 {
		// The delayed promises go first: what this gateway noted since is
		// newer. The slot's array now belongs to the batch.
		batch, *slot = append(*slot, batch...), nil
	}
	p.seq++
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
