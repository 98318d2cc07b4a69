package admissionverify

import (
	"encoding/json"
	"net/http"
)

// Error is why a request was refused: the status it gets and a code and
// message, sent as {"error":{"code":...,"message":...}} like the gateway's
// own errors. Compare with errors.Is against the variables below.
type Error struct {
	Status  int
	Code    string
	Message string
	body    []byte // the JSON answer, built once so that refusing does not allocate
}

func (e *Error) Error() string { return "admissionverify: " + e.Message }

func newError(status int, code, message string) *Error {
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": message}})
	return &Error{Status: status, Code: code, Message: message, body: body}
}

// The reasons a request is refused. A missing, broken or outdated token is
// 401: the person goes back through the waiting room. A good token that is
// not meant for this backend or this device is 403. No keys is 503: the
// backend, not the client, is the problem.
var (
	ErrMissingToken = newError(http.StatusUnauthorized, "missing_token", "no admission token: wait your turn in the waiting room")
	ErrMalformed    = newError(http.StatusUnauthorized, "malformed_token", "the admission token is malformed")
	ErrAlgorithm    = newError(http.StatusUnauthorized, "bad_algorithm", "the admission token is not signed with EdDSA")
	ErrUnknownKey   = newError(http.StatusUnauthorized, "unknown_key", "the admission token is signed with a key the gateway does not publish")
	ErrSignature    = newError(http.StatusUnauthorized, "bad_signature", "the admission token's signature is invalid")
	ErrExpired      = newError(http.StatusUnauthorized, "expired", "the admission token has expired: go back through the waiting room")
	ErrNotYetValid  = newError(http.StatusUnauthorized, "not_yet_valid", "the admission token is not valid yet")
	ErrIssuer       = newError(http.StatusUnauthorized, "wrong_issuer", "the admission token was not issued by this waiting room")
	ErrMissingClaim = newError(http.StatusUnauthorized, "missing_claim", "the admission token lacks a required claim")
	ErrClaims       = newError(http.StatusUnauthorized, "invalid_claims", "the admission token's claims are invalid")
	ErrLifetime     = newError(http.StatusUnauthorized, "lifetime_too_long", "the admission token lasts longer than this site allows")
	ErrAudience     = newError(http.StatusForbidden, "wrong_audience", "the admission token is for another site")
	ErrRoom         = newError(http.StatusForbidden, "wrong_room", "the admission token is for another waiting room")
	ErrDevice       = newError(http.StatusForbidden, "device_mismatch", "the admission token belongs to another device")
	ErrNoKeys       = newError(http.StatusServiceUnavailable, "keys_unavailable", "the waiting room's keys cannot be fetched yet: try again shortly")
)
