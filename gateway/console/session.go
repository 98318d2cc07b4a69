package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// Session is one console sign-in.
type Session struct {
	// CSRF is the token the page sends in the X-CSRF-Token header with
	// every change: a cross-site request carries the cookie but cannot
	// read this token.
	CSRF    string
	Expires time.Time
}

// CheckCSRF compares got with the session's token in constant time.
func (s Session) CheckCSRF(got []byte) bool {
	return len(got) > 0 && subtle.ConstantTimeCompare(got, []byte(s.CSRF)) == 1
}

// MaxSessions bounds the sessions kept; beyond it the session closest to
// expiry is ended. Only holders of the admin token make sessions, so the
// bound is a safety net, not a limit operators meet.
const MaxSessions = 1000

// Sessions are the console's sign-in sessions, kept in this process: a
// session works on the gateway it was made on, and a restart signs
// everyone out. Sessions expire TTL after sign-in, by the server's clock,
// whatever the cookie says.
type Sessions struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	// m is keyed by the SHA-256 of the session id, so a lookup's timing
	// says nothing about the ids kept.
	m map[[32]byte]Session
}

// NewSessions returns an empty set of sessions lasting ttl on the clock
// now (time.Now when nil).
func NewSessions(ttl time.Duration, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{ttl: ttl, now: now, m: map[[32]byte]Session{}}
}

// TTL is how long a session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

// Create starts a session and returns its id, for the cookie.
func (s *Sessions) Create() (id string, sess Session) {
	id, sess = random(), Session{CSRF: random(), Expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// Lookup returns the session with id, unless it expired or never existed.
func (s *Sessions) Lookup(id string) (Session, bool) {
	if id == "" {
		return Session{}, false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[k]
	if ok && !s.now().Before(sess.Expires) {
		delete(s.m, k)
		return Session{}, false
	}
	return sess, ok
}

// End ends the session with id.
func (s *Sessions) End(id string) {
	s.mu.Lock()
	delete(s.m, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}

// prune drops expired sessions and, at MaxSessions, the one expiring
// first. s.mu is held.
func (s *Sessions) prune() {
	now := s.now()
	var first [32]byte
	var firstAt time.Time
	for k, sess := range s.m {
		if !now.Before(sess.Expires) {
			delete(s.m, k)
		} else if firstAt.IsZero() || sess.Expires.Before(firstAt) {
			first, firstAt = k, sess.Expires
		}
	}
	if len(s.m) >= MaxSessions {
		delete(s.m, first)
	}
}

// random is 256 random bits, base64url: a session id or CSRF token.
func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
