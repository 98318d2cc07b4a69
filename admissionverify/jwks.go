package admissionverify

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/waitroom/waitroom/ticket"
)

// maxJWKSSize caps the JWKS read: a handful of keys is under a kilobyte.
const maxJWKSSize = 1 << 20

// fetch gets and parses the JWKS. A set equal to seen's keeps seen's
// verified-token cache; any change starts an empty one, so a token of a
// dropped key is checked again, and refused.
func (v *Verifier) fetch(seen *keySet) (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), v.o.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.o.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("key set larger than %d bytes", maxJWKSSize)
	}
	keys, err := ticket.ParseJWKS(body)
	if err != nil {
		return nil, err
	}
	ks := &keySet{fingerprint: fingerprint(keys), fetched: v.o.Now()}
	if seen != nil && seen.fingerprint == ks.fingerprint {
		ks.ak = seen.ak
		return ks, nil
	}
	ks.ak, err = ticket.NewAdmissionVerifier(keys, ticket.AdmissionOptions{Issuer: v.o.Issuer, Audience: v.o.Audience, TTL: v.o.MaxLifetime, Leeway: v.o.Leeway})
	return ks, err
}

// fingerprint identifies a key set whatever the order of its keys.
func fingerprint(keys []ticket.EdPublicKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + "=" + base64.RawURLEncoding.EncodeToString(k.Public)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
