package ticket

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// QueueAudience is the "aud" of every queue ticket.
const QueueAudience = "waitroom-queue"

// DefaultQueueTTL is the lifetime of a queue ticket when QueueOptions.TTL is 0.
const DefaultQueueTTL = 24 * time.Hour

// MaxReturnPath is the longest return path, in bytes, a queue ticket carries.
const MaxReturnPath = 512

const (
	minSecret = 32 // bytes of HMAC secret: the SHA-256 block half, RFC 7518 §3.2
	maxOption = 128
	// maxPayload is the decoded size of the longest payload segment a token
	// within MaxTokenSize can have.
	maxPayload = MaxTokenSize * 3 / 4
	sigLen     = 43 // base64url characters of a 32-byte signature
	idLen      = 22 // base64url characters of a 16-byte id
)

// HMACKey is a queue ticket signing key.
type HMACKey struct {
	// ID is the key id ("kid"): 1 to 64 bytes of [A-Za-z0-9._-].
	ID string
	// Secret is at least 32 random bytes.
	Secret []byte
}

// QueueOptions configures a QueueCodec for one room and one queue epoch.
type QueueOptions struct {
	// Issuer is the "iss" claim. Required.
	Issuer string
	// Room is the "room" claim; a ticket for another room is refused
	// (ErrClaims). Required.
	Room string
	// Epoch is the "ep" claim, the queue's lifetime id (admission.State.Epoch);
	// a ticket from another epoch is refused (ErrStale). Required.
	Epoch string
	// TTL is how long a ticket stays valid after Issue, in whole seconds.
	// Default DefaultQueueTTL.
	TTL time.Duration
}

// Queue is the content of a queue ticket. It has a fixed size so that Verify
// can fill it without allocating.
type Queue struct {
	Subject  [16]byte // "sub": random per place, see NewSubject
	Device   [16]byte // "dev": DeviceHash of the device id
	Position int64    // "pos": place in the queue, from admission.Store.Join; 0 in the pre-queue
	PreIndex int64    // "pre", optional: join index in the pre-queue before the opening draw
	Method   int64    // "m", optional: 1-based index of the verification method used
	Rejoin   int64    // "rj", optional: index in the rejoin line, for a holder passed over as gone who came back
	IssuedAt int64    // "iat", unix seconds
	Expiry   int64    // "exp", unix seconds
}

// QueueCodec issues and verifies queue tickets: HS256 JWTs with the header
// {"alg":"HS256","kid":"<id>","typ":"JWT"} and a payload in the fixed key
// order iss, aud, room, ep, sub, dev, pos[, pre][, m][, rj], iat, exp[, ret]. Verify accepts
// only that exact layout, which only holders of the keys can produce.
// A QueueCodec is safe for concurrent use.
type QueueCodec struct {
	keys []*queueKey // keys[0] signs
	ttl  time.Duration
	// JSON-encoded claim values (quotes included) that every ticket carries.
	iss, room, ep []byte
	prefix        []byte // payload up to and including the "ep" value
}

type queueKey struct {
	header []byte    // base64url of the header
	pool   sync.Pool // of *macState
}

// macState is per-verification scratch space, pooled so Verify does not
// allocate: values passed to hash.Hash methods escape to the heap.
type macState struct {
	mac     hash.Hash
	sum     [sha256.Size]byte
	sig     [sha256.Size]byte
	payload [maxPayload]byte
}

var quotedAudience = appendJSONString(nil, QueueAudience)

// NewQueueCodec returns a codec that signs with keys[0] and verifies tickets
// signed with any of keys. It fails on no key, a secret shorter than 32
// bytes, an invalid or duplicate key id, an empty or control-character
// Issuer, Room or Epoch (or one over 128 bytes), or a TTL that is negative or
// under a second.
func NewQueueCodec(keys []HMACKey, o QueueOptions) (*QueueCodec, error) {
	if len(keys) == 0 {
		return nil, errors.New("ticket: no queue key")
	}
	for _, f := range [...]struct{ name, v string }{{"issuer", o.Issuer}, {"room", o.Room}, {"epoch", o.Epoch}} {
		if f.v == "" || !validText(f.v, maxOption) {
			return nil, fmt.Errorf("ticket: queue %s must be 1 to %d bytes of printable UTF-8", f.name, maxOption)
		}
	}
	if o.TTL == 0 {
		o.TTL = DefaultQueueTTL
	}
	if o.TTL < time.Second {
		return nil, fmt.Errorf("ticket: queue ttl %v is under a second", o.TTL)
	}
	c := &QueueCodec{
		ttl:  o.TTL,
		iss:  appendJSONString(nil, o.Issuer),
		room: appendJSONString(nil, o.Room),
		ep:   appendJSONString(nil, o.Epoch),
	}
	c.prefix = fmt.Appendf(nil, `{"iss":%s,"aud":%s,"room":%s,"ep":%s`, c.iss, quotedAudience, c.room, c.ep)
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("ticket: invalid queue key id %q", k.ID)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("ticket: duplicate queue key id %q", k.ID)
		}
		seen[k.ID] = true
		if len(k.Secret) < minSecret {
			return nil, fmt.Errorf("ticket: queue key %q: secret shorter than %d bytes", k.ID, minSecret)
		}
		secret := bytes.Clone(k.Secret)
		qk := &queueKey{header: b64.AppendEncode(nil, []byte(`{"alg":"HS256","kid":"`+k.ID+`","typ":"JWT"}`))}
		qk.pool.New = func() any { return &macState{mac: hmac.New(sha256.New, secret)} }
		c.keys = append(c.keys, qk)
	}
	return c, nil
}

// Issue signs a ticket for q with the first key. It sets IssuedAt to now and
// Expiry to now + TTL, ignoring those fields of q. returnPath, if not empty,
// is carried as the "ret" claim; it must be a local path: valid UTF-8 without
// control characters, at most MaxReturnPath bytes, starting with "/" but not
// "//" or "/\", and short enough for the ticket to fit in MaxTokenSize, else
// Issue returns ErrReturnPath. A negative Position fails with ErrClaims.
func (c *QueueCodec) Issue(q Queue, returnPath string, now time.Time) (string, error) {
	if returnPath != "" && !validReturnPath(returnPath) {
		return "", ErrReturnPath
	}
	if q.Position < 0 || q.PreIndex < 0 || q.Method < 0 || q.Rejoin < 0 {
		return "", fmt.Errorf("%w: negative position, pre-queue index, method or rejoin index", ErrClaims)
	}
	p := make([]byte, 0, 256+2*len(returnPath))
	p = append(p, c.prefix...)
	p = append(p, `,"sub":"`...)
	p = b64.AppendEncode(p, q.Subject[:])
	p = append(p, `","dev":"`...)
	p = b64.AppendEncode(p, q.Device[:])
	p = append(p, `","pos":`...)
	p = strconv.AppendInt(p, q.Position, 10)
	if q.PreIndex > 0 {
		p = append(p, `,"pre":`...)
		p = strconv.AppendInt(p, q.PreIndex, 10)
	}
	if q.Method > 0 {
		p = append(p, `,"m":`...)
		p = strconv.AppendInt(p, q.Method, 10)
	}
	if q.Rejoin > 0 {
		p = append(p, `,"rj":`...)
		p = strconv.AppendInt(p, q.Rejoin, 10)
	}
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, now.Unix(), 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, now.Add(c.ttl).Unix(), 10)
	if returnPath != "" {
		p = append(p, `,"ret":`...)
		p = appendJSONString(p, returnPath)
	}
	p = append(p, '}')

	k := c.keys[0]
	tok := make([]byte, 0, len(k.header)+1+b64.EncodedLen(len(p))+1+sigLen)
	tok = append(tok, k.header...)
	tok = append(tok, '.')
	tok = b64.AppendEncode(tok, p)
	st := k.pool.Get().(*macState)
	st.mac.Reset()
	st.mac.Write(tok)
	tok = append(tok, '.')
	tok = b64.AppendEncode(tok, st.mac.Sum(st.sum[:0]))
	k.pool.Put(st)
	if len(tok) > MaxTokenSize {
		return "", fmt.Errorf("%w: ticket would exceed %d bytes", ErrReturnPath, MaxTokenSize)
	}
	return string(tok), nil
}

// validReturnPath implements the rules of Issue. Control characters are
// refused because browsers drop tabs and newlines from URLs: "/\t/evil" would
// become "//evil", a link to another site.
func validReturnPath(s string) bool {
	return strings.HasPrefix(s, "/") &&
		!strings.HasPrefix(s, "//") && !strings.HasPrefix(s, `/\`) && validText(s, MaxReturnPath)
}

// Verify checks token and, on success, stores its content in out (if not
// nil). It does not allocate, on success or failure. Checks in order:
// ErrTooLarge, ErrMalformed, ErrAlgorithm or ErrKey (the header is not one
// of the codec's, byte for byte), ErrSignature, ErrClaims (issuer, audience,
// room, layout), ErrStale (epoch), ErrExpired (exp <= now, no leeway),
// ErrDevice (not DeviceHash(deviceID)).
func (c *QueueCodec) Verify(token, deviceID []byte, now time.Time, out *Queue) error {
	k, st, payload, err := c.open(token)
	if err != nil {
		return err
	}
	q, _, err := c.parse(payload)
	k.pool.Put(st)
	if err != nil {
		return err
	}
	if q.Expiry <= now.Unix() {
		return ErrExpired
	}
	if dh := DeviceHash(deviceID); subtle.ConstantTimeCompare(q.Device[:], dh[:]) != 1 {
		return ErrDevice
	}
	if out != nil {
		*out = q
	}
	return nil
}

// ReturnPath returns the "ret" claim of token, or "" if it has none. It
// checks the signature and layout again (so an unverified token yields
// nothing), but not expiry or device: call it after Verify.
func (c *QueueCodec) ReturnPath(token []byte) string {
	k, st, payload, err := c.open(token)
	if err != nil {
		return ""
	}
	defer k.pool.Put(st)
	_, raw, err := c.parse(payload)
	if err != nil || raw == nil {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || !validReturnPath(s) {
		return ""
	}
	return s
}

// open checks the size, shape, header and signature of token and decodes its
// payload into st.payload. On success the caller returns st to k.pool.
func (c *QueueCodec) open(token []byte) (k *queueKey, st *macState, payload []byte, err error) {
	if len(token) > MaxTokenSize {
		return nil, nil, nil, ErrTooLarge
	}
	d1 := bytes.IndexByte(token, '.')
	if d1 < 0 {
		return nil, nil, nil, ErrMalformed
	}
	d2 := bytes.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return nil, nil, nil, ErrMalformed
	}
	d2 += d1 + 1
	if bytes.IndexByte(token[d2+1:], '.') >= 0 {
		return nil, nil, nil, ErrMalformed
	}
	header, payloadSeg, sigSeg := token[:d1], token[d1+1:d2], token[d2+1:]
	for _, qk := range c.keys {
		if bytes.Equal(header, qk.header) {
			k = qk
			break
		}
	}
	if k == nil {
		return nil, nil, nil, classifyHeader(header)
	}
	if len(sigSeg) != sigLen {
		return nil, nil, nil, ErrSignature
	}
	st = k.pool.Get().(*macState)
	if _, err := b64.Decode(st.sig[:], sigSeg); err != nil {
		k.pool.Put(st)
		return nil, nil, nil, ErrSignature
	}
	st.mac.Reset()
	st.mac.Write(token[:d2])
	if !hmac.Equal(st.mac.Sum(st.sum[:0]), st.sig[:]) {
		k.pool.Put(st)
		return nil, nil, nil, ErrSignature
	}
	n, err := b64.Decode(st.payload[:], payloadSeg)
	if err != nil {
		k.pool.Put(st)
		return nil, nil, nil, ErrMalformed
	}
	return k, st, st.payload[:n], nil
}

var hs256 = []byte(`"alg":"HS256"`)

// classifyHeader tells an unknown key from a foreign algorithm, for a header
// that matches none of the codec's.
func classifyHeader(seg []byte) error {
	var buf [256]byte
	if b64.DecodedLen(len(seg)) > len(buf) {
		return ErrMalformed
	}
	n, err := b64.Decode(buf[:], seg)
	if err != nil || n == 0 || buf[0] != '{' {
		return ErrMalformed
	}
	if !bytes.Contains(buf[:n], hs256) {
		return ErrAlgorithm
	}
	return ErrKey
}

// parse reads an authenticated payload in the exact layout Issue writes. It
// returns the raw JSON string of "ret" (nil if absent). Comparing encoded
// values is exact because the encoding is deterministic.
func (c *QueueCodec) parse(p []byte) (q Queue, ret []byte, err error) {
	s := scanner{b: p}
	if !s.lit(`{"iss":`) || !bytes.Equal(s.str(), c.iss) ||
		!s.lit(`,"aud":`) || !bytes.Equal(s.str(), quotedAudience) ||
		!s.lit(`,"room":`) || !bytes.Equal(s.str(), c.room) ||
		!s.lit(`,"ep":`) {
		return q, nil, ErrClaims
	}
	if !bytes.Equal(s.str(), c.ep) {
		return q, nil, ErrStale
	}
	if !s.lit(`,"sub":`) || !s.id(&q.Subject) ||
		!s.lit(`,"dev":`) || !s.id(&q.Device) ||
		!s.lit(`,"pos":`) || !s.uint(&q.Position) ||
		s.lit(`,"pre":`) && (!s.uint(&q.PreIndex) || q.PreIndex == 0) ||
		s.lit(`,"m":`) && (!s.uint(&q.Method) || q.Method == 0) ||
		s.lit(`,"rj":`) && (!s.uint(&q.Rejoin) || q.Rejoin == 0) ||
		!s.lit(`,"iat":`) || !s.uint(&q.IssuedAt) ||
		!s.lit(`,"exp":`) || !s.uint(&q.Expiry) {
		return q, nil, ErrClaims
	}
	if s.lit(`,"ret":`) {
		if ret = s.str(); ret == nil {
			return q, nil, ErrMalformed
		}
	}
	if !s.lit("}") || s.i != len(s.b) {
		return q, nil, ErrMalformed
	}
	return q, ret, nil
}

// scanner reads the fixed payload layout. Its methods report failure by
// returning false or nil and then leave the position undefined.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) lit(l string) bool {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// str returns the JSON string at the position, quotes included, or nil.
func (s *scanner) str() []byte {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i : j+1]
			s.i = j + 1
			return v
		case c == '\\':
			j++
		case c < 0x20:
			return nil
		}
	}
	return nil
}

// id reads a quoted base64url 16-byte id into dst.
func (s *scanner) id(dst *[16]byte) bool {
	v := s.str()
	if len(v) != idLen+2 {
		return false
	}
	n, err := b64.Decode(dst[:], v[1:idLen+1])
	return err == nil && n == len(dst)
}

// uint reads a non-negative integer of at most 18 digits, without leading
// zeros, into dst.
func (s *scanner) uint(dst *int64) bool {
	j := s.i
	for j < len(s.b) && j-s.i <= 18 && '0' <= s.b[j] && s.b[j] <= '9' {
		j++
	}
	n := j - s.i
	if n == 0 || n > 18 || n > 1 && s.b[s.i] == '0' {
		return false
	}
	var v int64
	for _, c := range s.b[s.i:j] {
		v = v*10 + int64(c-'0')
	}
	*dst, s.i = v, j
	return true
}
