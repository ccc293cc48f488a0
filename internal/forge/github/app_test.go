package github

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/forgetest"
)

// The test App's key, generated once per test binary.
var appKeyOnce = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func testAppKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := appKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// testAppPEM is the key as GitHub hands it out: PKCS #1 PEM.
func testAppPEM(t *testing.T) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testAppKey(t))})
}

// verifyJWT checks a JWT as GitHub does: RS256 signed by the App's key,
// issued by the App, and current by now, iat in the past and exp at most
// 10 minutes ahead.
func verifyJWT(tok string, pub *rsa.PublicKey, iss string, now time.Time) error {
	header, claims, err := decodeJWT(tok, pub)
	if err != nil {
		return err
	}
	if header["alg"] != "RS256" {
		return fmt.Errorf("alg %v, want RS256", header["alg"])
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	switch {
	case claims["iss"] != iss:
		return fmt.Errorf("iss %v, want %q", claims["iss"], iss)
	case int64(iat) > now.Unix():
		return fmt.Errorf("iat %v is in the future", iat)
	case int64(exp) <= now.Unix():
		return fmt.Errorf("exp %v has passed", exp)
	case int64(exp) > now.Add(10*time.Minute).Unix() || exp-iat > 600:
		return fmt.Errorf("exp %v is more than 10 minutes ahead", exp)
	}
	return nil
}

// decodeJWT checks the signature and decodes header and claims.
func decodeJWT(tok string, pub *rsa.PublicKey) (header, claims map[string]any, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%d parts, want 3", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, fmt.Errorf("part %d: %w", i, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, nil, fmt.Errorf("part %d: %w", i, err)
		}
	}
	return header, claims, nil
}

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

const mintKey = "POST /app/installations/1/access_tokens"

func TestJWT(t *testing.T) {
	key := testAppKey(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tok, err := signJWT(key, "123456", at)
	if err != nil {
		t.Fatal(err)
	}
	header, claims, err := decodeJWT(tok, &key.PublicKey)
	if err != nil {
		t.Fatalf("the JWT does not verify with the App's public key: %v", err)
	}
	if fmt.Sprint(header) != "map[alg:RS256 typ:JWT]" {
		t.Errorf("header = %v", header)
	}
	want := map[string]any{
		"iat": float64(at.Add(-60 * time.Second).Unix()), // against clock drift
		"exp": float64(at.Add(9 * time.Minute).Unix()),   // exp - iat = 10 minutes, GitHub's most
		"iss": "123456",
	}
	if fmt.Sprint(claims) != fmt.Sprint(want) {
		t.Errorf("claims = %v, want %v", claims, want)
	}
	if err := verifyJWT(tok, &key.PublicKey, "123456", at); err != nil {
		t.Errorf("GitHub would refuse it: %v", err)
	}

	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := decodeJWT(tok, &other.PublicKey); err == nil {
		t.Error("the JWT verifies with another key")
	}
	parts := strings.Split(tok, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"iat":1,"exp":2,"iss":"666"}`))
	if _, _, err := decodeJWT(parts[0]+"."+forged+"."+parts[2], &key.PublicKey); err == nil {
		t.Error("the signature does not cover the claims")
	}
}

func TestParsePrivateKey(t *testing.T) {
	key := testAppKey(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)})
	broken := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)[:200]})
	for _, tc := range []struct {
		name string
		pem  []byte
		want string // error; "" for the key
	}{
		{"PKCS #1, as GitHub generates it", testAppPEM(t), ""},
		{"PKCS #8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), ""},
		{"surrounded by text", append(append([]byte("key:\n"), testAppPEM(t)...), "\n"...), ""},
		{"not PEM", []byte("MIIEowIBAAKCAQEA" + strings.Repeat("x", 100)), "not a PEM private key"},
		{"a public key", pub, `"PUBLIC KEY", not a private key`},
		{"an EC key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "not an RSA key"},
		{"cut short", broken, "does not hold a valid RSA key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrivateKey(tc.pem)
			if tc.want == "" {
				if err != nil || !got.Equal(key) {
					t.Errorf("ParsePrivateKey = %v; want the key", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}

// TestAppTokenMintedOnce: requests that all need a token while the first
// is being minted wait for it; GitHub is asked once.
func TestAppTokenMintedOnce(t *testing.T) {
	const n = 12
	s := newRecorded(t)
	s.mintGate = make(chan struct{})
	s.minting = make(chan struct{}, 2*n)
	c := s.appClient(t, 1)
	arrived := make(chan struct{}, 2*n)
	c.app.onWait = func() { arrived <- struct{}{} }

	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.GetMR(context.Background(), testRepo, 1347)
			errs <- err
		}()
	}
	<-s.minting // the first request is minting…
	for range n {
		<-arrived // …and every request wants a token
	}
	close(s.mintGate)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := s.hitCount(mintKey); got != 1 {
		t.Errorf("%d token requests for %d concurrent calls, want 1", got, n)
	}
	if got := s.hitCount(getPull); got != n {
		t.Errorf("%d pull requests read, want %d", got, n)
	}
}

// TestAppTokenRenewed: the token is reused while more than five minutes
// of it are left, then renewed before it expires.
func TestAppTokenRenewed(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	s := newRecorded(t)
	s.now = clock.now
	c := s.appClient(t, 1, WithClock(clock.now))

	for _, step := range []struct {
		at     time.Duration // after t0
		mints  int           // token requests so far
		failed bool          // the renewal fails (502, every attempt)
	}{
		{0, 1, false},
		{30 * time.Minute, 1, false},
		{54*time.Minute + 59*time.Second, 1, false}, // 5 min 1 s left
		{55*time.Minute + 1*time.Second, 2, false},  // 4 min 59 s left: renewed
		{time.Hour + time.Minute, 2, false},         // the first has expired; the second serves
		{time.Hour + 51*time.Minute, 2 + 4, true},   // renewal fails: 4 min left, kept
		{time.Hour + 54*time.Minute + 30*time.Second, 2 + 4 + 1, false},
	} {
		clock.set(t0.Add(step.at))
		if step.failed {
			bad := fault{status: 502, body: `{"message":"Server Error"}`}
			s.fail(mintKey, bad, bad, bad, bad)
		}
		// Reviews: one request, so one token per call.
		if _, err := c.Reviews(ctx, testRepo, 1347); err != nil {
			t.Fatalf("at t0+%s: %v", step.at, err)
		}
		if got := s.hitCount(mintKey); got != step.mints {
			t.Errorf("at t0+%s: %d token requests, want %d", step.at, got, step.mints)
		}
	}

	// Renewing fails with under a minute left: the error is the answer.
	clock.set(t0.Add(time.Hour + 54*time.Minute + 30*time.Second + 59*time.Minute + 10*time.Second))
	bad := fault{status: 502, body: `{"message":"Server Error"}`}
	s.fail(mintKey, bad, bad, bad, bad)
	_, err := c.Reviews(ctx, testRepo, 1347)
	if err == nil || !strings.Contains(err.Error(), "asking for a token of the App's installation 1") {
		t.Errorf("err = %v, want one saying the token could not be had", err)
	}
}

// TestAppTokenRefused: GitHub's 401 on the token request says what to
// check, and neither the JWT nor the key leaks into it.
func TestAppTokenRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("credentials", func(t *testing.T) {
		s := newRecorded(t)
		c := s.appClient(t, 1)
		s.fail(mintKey, fault{status: 401, body: string(readFile(t, "bad-jwt.json"))})
		_, err := c.GetMR(ctx, testRepo, 1347)
		if err == nil {
			t.Fatal("GetMR succeeded")
		}
		for _, want := range []string{"GitHub refused the App's credentials", "401 A JSON web token could not be decoded",
			"github-app-id", "private key", "clock", "getting pull request octocat/Hello-World#1347"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
		assertNoCredentials(t, err.Error())
		if errors.Is(err, forge.ErrNotFound) {
			t.Errorf("a refused App is not a missing pull request: %v", err)
		}
		// Nothing was cached: the next call asks again, and succeeds.
		if _, err := c.GetMR(ctx, testRepo, 1347); err != nil || s.hitCount(mintKey) != 2 {
			t.Errorf("after the refusal: %v, %d token requests", err, s.hitCount(mintKey))
		}
	})
	t.Run("wrong installation", func(t *testing.T) {
		s := newRecorded(t)
		_, err := s.appClient(t, 7).GetMR(ctx, testRepo, 1347)
		if err == nil || !strings.Contains(err.Error(), "installation 7") || !strings.Contains(err.Error(), "github-app-installation-id") {
			t.Errorf("err = %v, want one naming the installation and its setting", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		s := newRecorded(t)
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		s.appKey = &other.PublicKey // the App's registered key is another
		_, err = s.appClient(t, 1).GetMR(ctx, testRepo, 1347)
		if err == nil || !strings.Contains(err.Error(), "GitHub refused the App's credentials") {
			t.Errorf("err = %v, want the refusal explained", err)
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		s := newRecorded(t)
		c := s.appClient(t, 1)
		if _, err := c.GetMR(ctx, testRepo, 1347); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		clear(s.tokens) // revoked on GitHub's side
		s.mu.Unlock()
		if _, err := c.GetMR(ctx, testRepo, 1347); err == nil {
			t.Fatal("GetMR with a revoked token succeeded")
		}
		if _, err := c.GetMR(ctx, testRepo, 1347); err != nil || s.hitCount(mintKey) != 2 {
			t.Errorf("after a 401 the token is not replaced: %v, %d token requests", err, s.hitCount(mintKey))
		}
	})
}

// assertNoCredentials: no JWT (base64 of `{"`), key (base64 DER starts
// MII) or token in s.
func assertNoCredentials(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{"eyJ", "MII", "ghs_"} {
		if strings.Contains(s, bad) {
			t.Errorf("%q in %q", bad, s)
		}
	}
}

// TestAppInstallationLookup: without an installation id, each repository's
// installation is asked once, and installations share their token.
func TestAppInstallationLookup(t *testing.T) {
	ctx := context.Background()
	s := newRecorded(t)
	c := s.appClient(t, 0)
	for range 3 {
		if _, err := c.GetMR(ctx, testRepo, 1347); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.UnresolvedThreads(ctx, testRepo, 1347); err != nil || n != 2 {
		t.Errorf("UnresolvedThreads = %d, %v (GraphQL names no repository in its path)", n, err)
	}
	if _, err := c.GroupMembers(ctx, testRepo, "justice-league"); err != nil {
		t.Error(err)
	}
	user, tok, err := c.CloneAuthFor(ctx, testRepo)
	if err != nil || user != "x-access-token" || tok != "ghs_16C7e42F292c6912E7710c838347Ae178B4a" {
		t.Errorf("CloneAuthFor = %q, %q, %v; want x-access-token and the installation token", user, tok, err)
	}
	for key, want := range map[string]int{
		"GET /repos/octocat/Hello-World/installation": 1,
		"GET /orgs/octocat/installation":              1, // the teams are the organisation's
		mintKey:                                       1, // one installation, one token
	} {
		if got := s.hitCount(key); got != want {
			t.Errorf("%s: %d requests, want %d", key, got, want)
		}
	}

	_, err = c.GetMR(ctx, "monalisa/infra", 1)
	if !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "not installed on the repository monalisa/infra") {
		t.Errorf("repository without the App: err = %v, want ErrNotFound saying so", err)
	}
	if _, _, err := c.CloneAuthFor(ctx, "monalisa/infra"); !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "to clone monalisa/infra") {
		t.Errorf("CloneAuthFor a repository without the App: %v", err)
	}
	// Not remembered: installed since, it is found.
	if n := s.hitCount("GET /repos/monalisa/infra/installation"); n != 2 {
		t.Errorf("%d lookups for the repository without the App, want 2", n)
	}
	if u, tok := c.CloneAuth(); u != "x-access-token" || tok != "" {
		t.Errorf("CloneAuth without an installation = %q, %q; want no token (it cannot know the repository)", u, tok)
	}
}

func TestAppCloneAuth(t *testing.T) {
	s := newRecorded(t)
	c := s.appClient(t, 1)
	if u, tok := c.CloneAuth(); u != "x-access-token" || tok != "ghs_16C7e42F292c6912E7710c838347Ae178B4a" {
		t.Errorf("CloneAuth = %q, %q", u, tok)
	}
	if _, tok, err := c.CloneAuthFor(context.Background(), testRepo); err != nil || tok != "ghs_16C7e42F292c6912E7710c838347Ae178B4a" {
		t.Errorf("CloneAuthFor = %q, %v", tok, err)
	}
	if n := s.hitCount(mintKey); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestAppComments: the App's comments are its bot's, found from GET /app
// once; anyone else's comments are left alone, octocat's too.
func TestAppComments(t *testing.T) {
	ctx := context.Background()
	s := newRecorded(t)
	c := s.appClient(t, 0)
	const marker = "<!-- sluice:plan -->"
	s.addComment(1347, marker+" by octocat, who is not the App")
	for _, body := range []string{"first", "second"} {
		if err := c.UpsertComment(ctx, testRepo, 1347, marker, []string{marker + "\n" + body}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := c.Comments(ctx, testRepo, 1347)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cm := range cs {
		got = append(got, cm.Author.Login+": "+strings.ReplaceAll(cm.Body, "\n", " "))
	}
	want := []string{"octocat: Me too", "octocat: " + marker + " by octocat, who is not the App", appBot + ": " + marker + " second"}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("comments\n got %q\nwant %q", got, want)
	}
	if n := s.hitCount("GET /app"); n != 1 {
		t.Errorf("GET /app asked %d times, want once", n)
	}
	if n := s.hitCount("GET /user"); n != 0 {
		t.Errorf("GET /user asked %d times: an installation token cannot", n)
	}

	// A login given wins over GET /app.
	s2 := newRecorded(t)
	c2 := s2.appClient(t, 1, WithLogin("octocat"))
	if err := c2.UpsertComment(ctx, testRepo, 1347, marker, []string{marker + "\nx"}); err != nil {
		t.Fatal(err)
	}
	if n := s2.hitCount("GET /app"); n != 0 {
		t.Errorf("GET /app asked %d times despite WithLogin", n)
	}
}

func TestAppContract(t *testing.T) {
	for _, installation := range []int64{0, 1} {
		t.Run(fmt.Sprintf("installation %d", installation), func(t *testing.T) {
			s := newRecorded(t)
			fx := fixture(t)
			fx.Self = appBot
			forgetest.Run(t, s.appClient(t, installation), fx)
		})
	}
}

func TestNewApp(t *testing.T) {
	key := testAppPEM(t)
	for _, tc := range []struct {
		name string
		app  App
		want string
	}{
		{"no id", App{PrivateKey: key}, "has no ID"},
		{"no key", App{ID: "1"}, "private key: not a PEM private key"},
		{"bad key", App{ID: "1", PrivateKey: bytes.ReplaceAll(key, []byte("RSA PRIVATE"), []byte("RSA PUBLIC"))}, "not a private key"},
		{"negative installation", App{ID: "1", PrivateKey: key, InstallationID: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewApp("", tc.app)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if err != nil {
				assertNoCredentials(t, err.Error())
			}
		})
	}
	c, err := NewApp("https://ghe.example.com", App{ID: "1", PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if c.CloneURL("org/infra") != "https://ghe.example.com/org/infra.git" || c.app.jwt.BaseURL.String() != "https://ghe.example.com/api/v3/" {
		t.Errorf("URLs: clone %s, App API %s", c.CloneURL("org/infra"), c.app.jwt.BaseURL)
	}

	// The App's settings never print the key.
	app := App{ID: "1", PrivateKey: key, InstallationID: 3}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("app", "app", app)
	for _, s := range []string{fmt.Sprint(app), fmt.Sprintf("%+v", app), fmt.Sprintf("%#v", app), logged.String()} {
		if strings.Contains(s, "PRIVATE") || strings.Contains(s, "MII") || !strings.Contains(s, "set") {
			t.Errorf("App printed as %s", s)
		}
	}
}
