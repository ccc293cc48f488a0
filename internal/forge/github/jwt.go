package github

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// A GitHub App authenticates as itself with a JSON Web Token it signs with
// its private key (RS256), GitHub's "Generating a JSON Web Token (JWT) for
// a GitHub App": iat 60 seconds in the past against clock drift, exp at
// most 10 minutes ahead, iss the App's ID (or its client ID). The JWT only
// serves to ask for installation tokens and for the App's own details
// (GET /app); everything else uses an installation token.

const (
	// jwtBackdate is how far in the past iat is put, against clock drift.
	jwtBackdate = 60 * time.Second
	// jwtLifetime is exp - iat: GitHub's maximum of 10 minutes, with exp
	// then 9 minutes ahead of this server's clock.
	jwtLifetime = 10 * time.Minute
)

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))

// jwtClaims are the claims GitHub reads.
type jwtClaims struct {
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	Issuer    string `json:"iss"`
}

// signJWT returns the App's JWT as of now.
func signJWT(key *rsa.PrivateKey, appID string, now time.Time) (string, error) {
	iat := now.Add(-jwtBackdate)
	claims, err := json.Marshal(jwtClaims{IssuedAt: iat.Unix(), ExpiresAt: iat.Add(jwtLifetime).Unix(), Issuer: appID})
	if err != nil {
		return "", err
	}
	signed := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		// Never the key itself: rsa's errors do not carry it.
		return "", fmt.Errorf("github: signing the App's JWT: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ParsePrivateKey reads a GitHub App's private key: the PEM file GitHub
// generates ("RSA PRIVATE KEY", PKCS #1), or the same key as PKCS #8
// ("PRIVATE KEY"). Its errors never quote the key.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("not a PEM private key (no -----BEGIN RSA PRIVATE KEY----- block); " +
			"give the .pem file GitHub generated on the App's settings page (Private keys → Generate a private key)")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("the RSA PRIVATE KEY block does not hold a valid RSA key; generate a new private key on the App's settings page")
		}
		return key, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("the PRIVATE KEY block does not hold a valid key; generate a new private key on the App's settings page")
		}
		key, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the key is a %T, not an RSA key; GitHub Apps sign with RSA: generate a new private key on the App's settings page", k)
		}
		return key, nil
	}
	return nil, fmt.Errorf("the PEM block is a %q, not a private key; give the .pem file GitHub generated on the App's settings page", block.Type)
}
