package github

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/sluicehq/sluice/internal/forge"
)

// App is a GitHub App Sluice acts as, instead of a fixed token.
type App struct {
	// ID is the App's ID (a number) or its client ID ("Iv1.…"), both
	// shown on the App's settings page: the JWT's issuer.
	ID string
	// PrivateKey is one of the App's private keys, PEM-encoded. Secret.
	PrivateKey []byte
	// InstallationID is the installation to act as; 0 finds the
	// installation of each repository (GET /repos/{owner}/{repo}/installation).
	InstallationID int64
}

// String keeps the private key out of logs and messages.
func (a App) String() string {
	return fmt.Sprintf("github.App{ID: %s, InstallationID: %d, PrivateKey: %s}", a.ID, a.InstallationID, setOrUnset(a.PrivateKey))
}

// GoString keeps %#v from printing the key.
func (a App) GoString() string { return a.String() }

// LogValue keeps slog from printing the key.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.ID), slog.Int64("installation_id", a.InstallationID),
		slog.String("private_key", setOrUnset(a.PrivateKey)))
}

func setOrUnset(b []byte) string {
	if len(b) == 0 {
		return "unset"
	}
	return "set"
}

const (
	// renewBefore: an installation token with less time left is renewed
	// before it is used (they last an hour).
	renewBefore = 5 * time.Minute
	// keepUsing: when renewing fails, a token with at least this much
	// time left is still used, and renewal tried again on the next call.
	keepUsing = time.Minute
	// cloneAuthTimeout bounds the token request of CloneAuth, which has
	// no context.
	cloneAuthTimeout = 2 * time.Minute
)

// appAuth mints, caches and renews the installation tokens of a GitHub
// App, and finds which installation serves a repository.
type appAuth struct {
	id    string
	key   *rsa.PrivateKey
	fixed int64 // the configured installation, or 0
	// jwt is a go-github client whose requests carry the App's JWT, over
	// the same retrying transport as the API's.
	jwt *gh.Client
	now func() time.Time
	log *slog.Logger

	mu     sync.Mutex
	tokens map[int64]*installToken // by installation id
	// installs maps "repo:owner/name" and "org:name" (lower case) to the
	// installation serving it; lookup serialises the lookups.
	installs map[string]int64
	lookup   chan struct{}

	// onWait, in tests, is called when a request starts waiting for a
	// token.
	onWait func()
}

// installToken is one installation's token. sem (capacity 1) is held
// while the token is read, and while it is renewed: one renewal at a
// time, the other requests wait for its result.
type installToken struct {
	sem     chan struct{}
	token   string
	expires time.Time
}

// jwtTransport signs every request with a fresh JWT.
type jwtTransport struct {
	a    *appAuth
	next http.RoundTripper
}

func (t *jwtTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := signJWT(t.a.key, t.a.id, t.a.now())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.next.RoundTrip(r)
}

// installationTransport puts the installation token of the repository a
// request is about into its Authorization header.
type installationTransport struct {
	a    *appAuth
	next http.RoundTripper
	// apiPath is the API's base path ("/" or "/api/v3/"), cut before
	// reading /repos/{owner}/{repo} or /orgs/{org} from a request's path.
	apiPath string
}

func (t *installationTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	id := t.a.fixed
	if id == 0 {
		kind, name, ok := t.target(req)
		if !ok {
			closeBody(req)
			return nil, fmt.Errorf("github: %s %s names no repository or organisation, so Sluice cannot tell which installation of the App to use; "+
				"set the installation (github-app-installation-id)", req.Method, req.URL.Path)
		}
		var err error
		if id, err = t.a.installation(ctx, kind, name); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	tok, err := t.a.token(ctx, id)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	r := req.Clone(ctx)
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		// Revoked, or expired early by GitHub's clock: mint a new one on
		// the next request.
		t.a.forget(ctx, id, tok)
	}
	return resp, err
}

// closeBody closes the body of a request that is not sent, as a
// RoundTripper must.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// target reads what a request is about: the repository set on its
// context (withRepo), else /repos/{owner}/{repo}/… or /orgs/{org}/… in
// its path.
func (t *installationTransport) target(req *http.Request) (kind, name string, ok bool) {
	if repo, ok := req.Context().Value(repoKey).(string); ok && repo != "" {
		return "repo", repo, true
	}
	p, ok := strings.CutPrefix(req.URL.Path, t.apiPath)
	if !ok {
		return "", "", false
	}
	parts := strings.SplitN(p, "/", 4)
	switch {
	case len(parts) >= 3 && parts[0] == "repos" && parts[1] != "" && parts[2] != "":
		return "repo", parts[1] + "/" + parts[2], true
	case len(parts) >= 2 && parts[0] == "orgs" && parts[1] != "":
		return "org", parts[1], true
	}
	return "", "", false
}

// withRepo names the repository ("owner/name") a request is about, for
// requests whose path does not (GraphQL).
func withRepo(ctx context.Context, owner, name string) context.Context {
	return context.WithValue(ctx, repoKey, owner+"/"+name)
}

// installation returns the installation of the App serving a repository
// or organisation, asked of GitHub once and then remembered.
func (a *appAuth) installation(ctx context.Context, kind, name string) (int64, error) {
	key := kind + ":" + strings.ToLower(name)
	a.mu.Lock()
	id, ok := a.installs[key]
	a.mu.Unlock()
	if ok {
		return id, nil
	}
	select {
	case a.lookup <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-a.lookup }()
	a.mu.Lock()
	id, ok = a.installs[key]
	a.mu.Unlock()
	if ok {
		return id, nil
	}

	var (
		inst *gh.Installation
		resp *gh.Response
		err  error
		path string
	)
	if kind == "repo" {
		owner, repo, _ := strings.Cut(name, "/")
		path = "repos/" + name + "/installation"
		inst, resp, err = a.jwt.Apps.FindRepositoryInstallation(ctx, owner, repo)
	} else {
		path = "orgs/" + name + "/installation"
		inst, resp, err = a.jwt.Apps.FindOrganizationInstallation(ctx, name)
	}
	switch {
	case err == nil && inst.GetID() != 0:
		id = inst.GetID()
	case err == nil:
		return 0, fmt.Errorf("github: GET /%s answered without an installation id", path)
	case notFound(resp, err):
		what := "repository " + name
		if kind == "org" {
			what = "organisation " + name
		}
		// Not cached: once the App is installed, the next call finds it.
		return 0, fmt.Errorf("github: the GitHub App is not installed on the %s, or it does not exist (GET /%s answered 404); "+
			"install the App on it (the App's page → Install App): %w", what, path, forge.ErrNotFound)
	default:
		return 0, a.explain(resp, err, "finding the App's installation for the "+kind+" "+name+" (GET /"+path+")")
	}
	a.mu.Lock()
	a.installs[key] = id
	a.mu.Unlock()
	return id, nil
}

// token returns a token of the installation with at least renewBefore
// left, minting one when needed.
func (a *appAuth) token(ctx context.Context, id int64) (string, error) {
	a.mu.Lock()
	t, ok := a.tokens[id]
	if !ok {
		t = &installToken{sem: make(chan struct{}, 1)}
		a.tokens[id] = t
	}
	a.mu.Unlock()
	if a.onWait != nil {
		a.onWait()
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-t.sem }()

	now := a.now()
	if t.token != "" && t.expires.Sub(now) > renewBefore {
		return t.token, nil
	}
	tok, expires, err := a.mint(ctx, id)
	if err != nil {
		if t.token != "" && t.expires.Sub(now) > keepUsing {
			a.log.Warn("renewing the GitHub App's installation token failed; the current one is used until it nearly expires",
				"installation", id, "expires_at", t.expires, "err", err)
			return t.token, nil
		}
		return "", err
	}
	t.token, t.expires = tok, expires
	return tok, nil
}

// forget drops tok if it is still the installation's token.
func (a *appAuth) forget(ctx context.Context, id int64, tok string) {
	a.mu.Lock()
	t := a.tokens[id]
	a.mu.Unlock()
	if t == nil {
		return
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if t.token == tok {
		t.token, t.expires = "", time.Time{}
	}
	<-t.sem
}

// mint asks GitHub for a new token of the installation.
func (a *appAuth) mint(ctx context.Context, id int64) (string, time.Time, error) {
	// Asking twice for a token is harmless: retried like an idempotent
	// request.
	it, resp, err := a.jwt.Apps.CreateInstallationToken(idempotent(ctx), id, nil)
	if err != nil {
		if status(resp) == http.StatusNotFound && a.fixed == 0 {
			// Uninstalled and perhaps installed again under a new id:
			// look the installation up again next time.
			a.mu.Lock()
			for k, v := range a.installs {
				if v == id {
					delete(a.installs, k)
				}
			}
			a.mu.Unlock()
		}
		return "", time.Time{}, a.explain(resp, err, fmt.Sprintf("asking for a token of the App's installation %d (POST /app/installations/%d/access_tokens)", id, id))
	}
	if it.GetToken() == "" {
		return "", time.Time{}, fmt.Errorf("github: asking for a token of the App's installation %d: GitHub answered without a token", id)
	}
	expires := it.GetExpiresAt().Time
	if expires.IsZero() {
		expires = a.now().Add(time.Hour) // the documented lifetime
	}
	return it.GetToken(), expires, nil
}

// slug is the App's slug, from GET /app: its comments are by
// "SLUG[bot]".
func (a *appAuth) slug(ctx context.Context) (string, error) {
	app, resp, err := a.jwt.Apps.Get(ctx, "")
	if err != nil {
		return "", a.explain(resp, err, "asking GitHub for the App's name (GET /app)")
	}
	if app.GetSlug() == "" {
		return "", errors.New("github: GET /app answered without the App's slug; set Sluice's GitHub login (github-login) to the App's bot, SLUG[bot]")
	}
	return app.GetSlug(), nil
}

// explain turns a failed App request into what went wrong and what to
// check. GitHub's message is kept; the JWT and the key never appear.
func (a *appAuth) explain(resp *gh.Response, err error, doing string) error {
	msg := err.Error()
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		msg = fmt.Sprintf("%d %s", er.Response.StatusCode, er.Message)
	}
	switch status(resp) {
	case http.StatusUnauthorized:
		return fmt.Errorf("github: %s: GitHub refused the App's credentials (%s); check the App ID (github-app-id, %s here; "+
			"the App ID or Client ID on the App's settings page), that the private key (github-app-private-key-file) is a current key of that App "+
			"(keys deleted on the settings page stop working), and that this server's clock is right", doing, msg, a.id)
	case http.StatusNotFound:
		if a.fixed != 0 {
			return fmt.Errorf("github: %s: not found (%s); check the installation id (github-app-installation-id: the number at the end of "+
				"the installation's settings URL, …/settings/installations/ID), that the App is still installed, "+
				"or leave the installation id unset to find each repository's installation", doing, msg)
		}
		return fmt.Errorf("github: %s: not found (%s); check that the App is still installed", doing, msg)
	case http.StatusForbidden:
		return fmt.Errorf("github: %s: refused (%s); check that the App's installation is not suspended", doing, msg)
	}
	return fmt.Errorf("github: %s: %s", doing, msg)
}
