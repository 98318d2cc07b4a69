// Package ticket issues and verifies the waiting room's two signed tokens.
//
// A queue ticket (QueueCodec) is an HS256 JWT that holds a person's place. Only
// the gateway reads it, on every status poll, so it is verified by a small
// strict codec that does not allocate. An admission token (AdmissionKeys) is
// an EdDSA (Ed25519) JWT that lets a person through to the booking backend,
// which verifies it itself with the keys published as a JWKS.
//
// Both tokens are bound to a device: they carry DeviceHash of the device id
// the gateway keeps in a cookie, never the id itself, and are refused when
// presented with another device id.
//
// Every verification error is one of the sentinel errors below (test with
// errors.Is); all of them mean the same to the client: 401.
package ticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxTokenSize is the longest token, in bytes, either kind of verification
// reads; longer input fails with ErrTooLarge before any other work.
const MaxTokenSize = 2048

// Verification errors. Verify and Check return them unwrapped or wrapped with
// %w; all mean "401 to the client".
var (
	// ErrMalformed means the input is not a token of the expected shape.
	ErrMalformed = errors.New("ticket: malformed token")
	// ErrTooLarge means the input is longer than MaxTokenSize.
	ErrTooLarge = errors.New("ticket: token too large")
	// ErrAlgorithm means the header names another algorithm (or "none").
	ErrAlgorithm = errors.New("ticket: unexpected signing algorithm")
	// ErrKey means the header names no key this verifier holds.
	ErrKey = errors.New("ticket: unknown key")
	// ErrSignature means the signature does not match.
	ErrSignature = errors.New("ticket: invalid signature")
	// ErrExpired means the token's exp is not after now.
	ErrExpired = errors.New("ticket: token expired")
	// ErrClaims means a wrong issuer, audience or room, a claim that is
	// missing, or a token used before it was issued.
	ErrClaims = errors.New("ticket: invalid claims")
	// ErrStale means a queue ticket from another epoch of the queue.
	ErrStale = errors.New("ticket: ticket from another queue epoch")
	// ErrDevice means the token is bound to another device.
	ErrDevice = errors.New("ticket: token bound to another device")
	// ErrReturnPath means a return path Issue refuses: see QueueCodec.Issue.
	ErrReturnPath = errors.New("ticket: invalid return path")

	// ErrRoom means an admission token issued for another room (or
	// eligibility window) than the one it was checked for. It wraps
	// ErrClaims.
	ErrRoom = fmt.Errorf("%w: token for another room", ErrClaims)
	// ErrLifetime means an admission token whose lifetime (exp - iat) is
	// longer than the verifier allows (AdmissionOptions.TTL). It wraps
	// ErrClaims.
	ErrLifetime = fmt.Errorf("%w: token lifetime longer than allowed", ErrClaims)
)

// b64 is the token alphabet. Strict refuses non-zero padding bits, so every
// value has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// maxKeyID is the longest key id accepted; ids appear in every token header.
const maxKeyID = 64

// DeviceHash binds a token to a device without putting the raw device id in
// the token: it returns the first 16 bytes of SHA-256(deviceID).
func DeviceHash(deviceID []byte) [16]byte {
	sum := sha256.Sum256(deviceID)
	return [16]byte(sum[:16])
}

// NewDeviceID returns a new device id: 16 random bytes from crypto/rand as
// 22 characters of unpadded base64url.
func NewDeviceID() string {
	b := random16()
	return b64.EncodeToString(b[:])
}

// NewSubject returns 16 random bytes from crypto/rand, a queue ticket's
// Subject.
func NewSubject() [16]byte { return random16() }

func random16() [16]byte {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24: it crashes the program instead.
	return b
}

// GenerateDevKeys returns one random HMAC key and one random Ed25519 key, for
// development only: a restart invalidates every token. Ids are "dev-<8 hex>".
func GenerateDevKeys() ([]HMACKey, []EdKey) {
	secret := make([]byte, 32)
	rand.Read(secret)
	_, priv, _ := ed25519.GenerateKey(nil) // nil means crypto/rand, which cannot fail.
	return []HMACKey{{ID: devKeyID(), Secret: secret}}, []EdKey{{ID: devKeyID(), Private: priv}}
}

func devKeyID() string {
	var b [4]byte
	rand.Read(b[:])
	return "dev-" + hex.EncodeToString(b[:])
}

// validKeyID reports whether id is 1 to 64 bytes of [A-Za-z0-9._-], so it
// needs no escaping in a header.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validText reports whether s is valid UTF-8 without control characters and
// at most max bytes long.
func validText(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string. s must be valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
