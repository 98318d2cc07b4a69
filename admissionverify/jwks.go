package admissionverify

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, err
	}
	ks := &keySet{fingerprint: fingerprint(keys), fetched: v.o.Now()}
	if seen != nil && seen.fingerprint == ks.fingerprint {
		ks.ak = seen.ak
		return ks, nil
	}
	ks.ak, err = ticket.NewAdmissionVerifier(keys, ticket.AdmissionOptions{Issuer: v.o.Issuer, Audience: v.o.Audience, Leeway: v.o.Leeway})
	return ks, err
}

// parseJWKS returns the Ed25519 signing keys of a JWKS. Keys of other types
// or for other uses are skipped (this verifier would refuse their tokens
// anyway); a malformed Ed25519 key or a set without any fails the whole set,
// so that a broken answer never replaces good keys.
func parseJWKS(body []byte) ([]ticket.EdPublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("key set is not a JWKS: %w", err)
	}
	var keys []ticket.EdPublicKey
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "EdDSA") {
			continue
		}
		x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %q: x is not a base64url Ed25519 public key", k.Kid)
		}
		keys = append(keys, ticket.EdPublicKey{ID: k.Kid, Public: x})
	}
	if len(keys) == 0 {
		return nil, errors.New("key set holds no Ed25519 signing key")
	}
	return keys, nil
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
