package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// Devices recognises the browsers operators have signed in from, so that
// wrong admin tokens lock out guesses, not the operator (OWASP's "device
// cookies" against online guessing): a device that signed in before keeps
// a signed random id in a cookie, and its attempts count against a budget
// of its own, which guesses from its network (anyone behind the same
// address) never spend. A device nobody signed in from shares its
// network's budget.
//
// The signing key is random per process, like the sessions: a restart
// forgets every device, whose next sign-in counts against its network
// again, and a cookie says nothing about the admin token.
type Devices struct {
	key [32]byte
}

// NewDevices returns a recogniser with a fresh key.
func NewDevices() *Devices {
	d := &Devices{}
	_, _ = rand.Read(d.key[:])
	return d
}

// deviceIDLen and deviceMACLen are the bytes of the id and of the HMAC
// prefix a device cookie holds, each base64url without padding.
const (
	deviceIDLen  = 16
	deviceMACLen = 16
)

var b64 = base64.RawURLEncoding.Strict()

// New returns a new device's cookie value: its id and a MAC of it.
func (d *Devices) New() string {
	var id [deviceIDLen]byte
	_, _ = rand.Read(id[:])
	mac := d.mac(id)
	return b64.EncodeToString(id[:]) + "." + b64.EncodeToString(mac[:deviceMACLen])
}

// Check returns the device id in a cookie value New made, comparing its
// MAC in constant time; ok is false for anything else.
func (d *Devices) Check(v []byte) (id [deviceIDLen]byte, ok bool) {
	const idChars, macChars = (deviceIDLen*8 + 5) / 6, (deviceMACLen*8 + 5) / 6
	if len(v) != idChars+1+macChars || v[idChars] != '.' {
		return id, false
	}
	var mac [deviceMACLen]byte
	if n, err := b64.Decode(id[:], v[:idChars]); err != nil || n != deviceIDLen {
		return id, false
	}
	if n, err := b64.Decode(mac[:], v[idChars+1:]); err != nil || n != deviceMACLen {
		return id, false
	}
	want := d.mac(id)
	return id, hmac.Equal(mac[:], want[:deviceMACLen])
}

func (d *Devices) mac(id [deviceIDLen]byte) [sha256.Size]byte {
	h := hmac.New(sha256.New, d.key[:])
	h.Write(id[:])
	return [sha256.Size]byte(h.Sum(nil))
}
