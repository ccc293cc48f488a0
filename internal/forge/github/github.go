// Package github is the forge adapter for GitHub and GitHub Enterprise
// Server: webhook verification and parsing, and the REST API (plus one
// GraphQL query) through the official go-github client.
//
// Every request goes through a retrying http.RoundTripper (see retry.go):
// 5xx answers, 429 and rate-limit 403s are retried with backoff, honouring
// Retry-After and x-ratelimit-reset up to a cap, on a context-aware sleep.
//
// The client acts with a fixed token (New) or as a GitHub App (NewApp, see
// app.go): then a transport above the retrying one puts a current
// installation token on every request, minted from a JWT signed with the
// App's private key (jwt.go), cached per installation and renewed before
// it expires.
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/sluicehq/sluice/internal/forge"
)

var _ forge.Forge = (*Client)(nil)

// commentLimit is GitHub's limit on an issue comment's body: 65536
// characters, so never fewer bytes.
const commentLimit = 65536

// perPage is the page size asked for on every listing (GitHub's maximum).
const perPage = 100

// all lists every page of a listing, from the first until GitHub names no
// next one, and returns the last answer (or the failed one).
func all[T any](list func(gh.ListOptions) ([]T, *gh.Response, error)) ([]T, *gh.Response, error) {
	var out []T
	opt := gh.ListOptions{PerPage: perPage}
	for {
		items, resp, err := list(opt)
		if err != nil {
			return nil, resp, err
		}
		out = append(out, items...)
		if resp.NextPage == 0 {
			return out, resp, nil
		}
		opt.Page = resp.NextPage
	}
}

// Client is a forge.Forge for one GitHub (or GitHub Enterprise Server)
// instance, acting with one token (New) or as a GitHub App (NewApp).
type Client struct {
	gh         *gh.Client
	token      string
	app        *appAuth // nil with a fixed token
	log        *slog.Logger
	webURL     *url.URL // https://github.com/ or https://ghe.example.com/
	graphqlURL string

	// login is the account the token acts as; UpsertComment only touches
	// that account's comments. Set by WithLogin, else learnt from GET /user
	// (GET /app for an App: "SLUG[bot]").
	loginMu    sync.Mutex
	login      string
	loginKnown bool
}

// Option configures New.
type Option func(*options)

type options struct {
	maxAttempts int
	maxWait     time.Duration
	baseDelay   time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
	login       string
	log         *slog.Logger
}

// WithRetry sets how many attempts a request gets in all (at least 1;
// default 4) and the longest single wait between two attempts (default
// one minute). A server asking for a longer wait (Retry-After, or a
// rate-limit reset further away) is not retried: its error is returned.
func WithRetry(attempts int, maxWait time.Duration) Option {
	return func(o *options) {
		o.maxAttempts = max(attempts, 1)
		if maxWait > 0 {
			o.maxWait = maxWait
		}
	}
}

// WithBackoff sets the first backoff delay when the server names no wait
// (default one second); it doubles on each further attempt.
func WithBackoff(base time.Duration) Option {
	return func(o *options) {
		if base > 0 {
			o.baseDelay = base
		}
	}
}

// WithSleep replaces the wait between attempts (tests pass a fake that
// records the durations). It must return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = sleep }
}

// WithClock replaces time.Now, used to turn x-ratelimit-reset into a
// wait, and for a GitHub App to date its JWTs and tell when an
// installation token needs renewing.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogin names the account the token acts as — for a GitHub App, its
// bot login ("my-app[bot]"). UpsertComment then only edits and deletes
// that account's comments. Without it the login is asked of GET /user
// once (of GET /app for a client made by NewApp); a token that cannot
// ask (a GitHub App installation token given as a token) leaves it
// unknown, and then comments by anyone that carry the marker are taken
// as Sluice's.
func WithLogin(login string) Option { return func(o *options) { o.login = login } }

// WithLogger sets where the client reports what it recovers from on its
// own (an installation token that could not be renewed yet). Default:
// nowhere.
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// New returns a client for the GitHub API at baseURL: "" for github.com,
// else a GitHub Enterprise Server API URL (https://host/api/v3/; the
// /api/v3/ suffix is added when missing).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	return newClient(baseURL, token, nil, opts)
}

// NewApp returns a client for the GitHub API at baseURL (as New) that
// acts as a GitHub App: every request carries a token of the App's
// installation, minted from the App's private key, cached, and renewed
// when less than five minutes of its hour are left. Without an
// installation id, each repository's installation is asked of GitHub
// once.
func NewApp(baseURL string, app App, opts ...Option) (*Client, error) {
	if app.ID == "" {
		return nil, errors.New("github: the GitHub App has no ID; give its App ID (or Client ID) from the App's settings page")
	}
	if app.InstallationID < 0 {
		return nil, fmt.Errorf("github: the GitHub App's installation id %d is negative", app.InstallationID)
	}
	key, err := ParsePrivateKey(app.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("github: the GitHub App's private key: %w", err)
	}
	return newClient(baseURL, "", &appAuth{
		id:       app.ID,
		key:      key,
		fixed:    app.InstallationID,
		tokens:   map[int64]*installToken{},
		installs: map[string]int64{},
		lookup:   make(chan struct{}, 1),
	}, opts)
}

func newClient(baseURL, token string, app *appAuth, opts []Option) (*Client, error) {
	o := options{
		maxAttempts: 4,
		maxWait:     time.Minute,
		baseDelay:   time.Second,
		sleep:       forge.Sleep,
		now:         time.Now,
		log:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	retry := &retryTransport{
		next:        http.DefaultTransport,
		maxAttempts: o.maxAttempts,
		maxWait:     o.maxWait,
		baseDelay:   o.baseDelay,
		sleep:       o.sleep,
		now:         o.now,
	}
	c := &Client{token: token, app: app, log: o.log, login: o.login, loginKnown: o.login != ""}
	var transport http.RoundTripper = retry
	var install *installationTransport
	if app != nil {
		app.now, app.log = o.now, o.log
		install = &installationTransport{a: app, next: retry}
		transport = install
	}
	client := gh.NewClient(&http.Client{Transport: transport})
	if token != "" {
		client = client.WithAuthToken(token)
	}
	client, err := c.setURLs(client, baseURL)
	if err != nil {
		return nil, err
	}
	c.gh = client
	if app != nil {
		install.apiPath = client.BaseURL.Path
		if app.jwt, err = c.setURLs(gh.NewClient(&http.Client{Transport: &jwtTransport{a: app, next: retry}}), baseURL); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// setURLs points client at baseURL and sets the web and GraphQL URLs of
// c to match.
func (c *Client) setURLs(client *gh.Client, baseURL string) (*gh.Client, error) {
	if baseURL == "" {
		c.webURL = &url.URL{Scheme: "https", Host: "github.com", Path: "/"}
		c.graphqlURL = "https://api.github.com/graphql"
		return client, nil
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("github: API URL %q is not an http(s) URL like https://ghe.example.com/api/v3/", baseURL)
	}
	upload := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/api/uploads/"}
	client, err = client.WithEnterpriseURLs(u.String(), upload.String())
	if err != nil {
		return nil, fmt.Errorf("github: API URL %q: %w", baseURL, err)
	}
	api := client.BaseURL
	web := &url.URL{Scheme: api.Scheme, Host: api.Host, Path: "/"}
	if p, ok := strings.CutSuffix(api.Path, "/api/v3/"); ok {
		web.Path = p + "/"
		c.graphqlURL = (&url.URL{Scheme: api.Scheme, Host: api.Host, Path: p + "/api/graphql"}).String()
	} else {
		// api.HOST style (GHE.com): the web UI is on HOST.
		web.Host = strings.TrimPrefix(api.Host, "api.")
		c.graphqlURL = api.JoinPath("graphql").String()
	}
	c.webURL = web
	return client, nil
}

// Name is "github".
func (c *Client) Name() string { return "github" }

// CommentLimit is GitHub's comment size limit (65536 characters).
func (c *Client) CommentLimit() int { return commentLimit }

// CloneURL is the repository's HTTPS clone URL, without credentials.
func (c *Client) CloneURL(repo string) string {
	return c.webURL.JoinPath(repo + ".git").String()
}

// CloneAuth is the user name and password git uses over HTTPS: GitHub
// takes any token as the password of "x-access-token". For a GitHub App
// it is a current token of the configured installation; without one
// (installations found per repository) the token is empty: use
// CloneAuthFor, which knows the repository.
func (c *Client) CloneAuth() (username, token string) {
	if c.app == nil {
		return "x-access-token", c.token
	}
	if c.app.fixed == 0 {
		return "x-access-token", ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), cloneAuthTimeout)
	defer cancel()
	tok, err := c.app.token(ctx, c.app.fixed)
	if err != nil {
		c.log.Warn("no GitHub App installation token for git", "err", err)
	}
	return "x-access-token", tok
}

// CloneAuthFor is CloneAuth for one repository ("owner/name"): for a
// GitHub App, a token of the installation serving it, with at least five
// minutes left.
func (c *Client) CloneAuthFor(ctx context.Context, repo string) (username, token string, err error) {
	if c.app == nil {
		return "x-access-token", c.token, nil
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", "", err
	}
	id := c.app.fixed
	if id == 0 {
		if id, err = c.app.installation(ctx, "repo", owner+"/"+name); err != nil {
			return "", "", fmt.Errorf("github: a token to clone %s: %w", repo, err)
		}
	}
	tok, err := c.app.token(ctx, id)
	if err != nil {
		return "", "", fmt.Errorf("github: a token to clone %s: %w", repo, err)
	}
	return "x-access-token", tok, nil
}

// splitRepo cuts "owner/name".
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("github: repository %q is not of the form owner/name", repo)
	}
	return owner, name, nil
}

// fail wraps an API error with what was being done, and marks 404 and
// 410 answers as forge.ErrNotFound.
func fail(resp *gh.Response, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if notFound(resp, err) {
		return fmt.Errorf("github: %s: %w (%w)", what, forge.ErrNotFound, err)
	}
	return fmt.Errorf("github: %s: %w", what, err)
}

func notFound(resp *gh.Response, err error) bool {
	if resp != nil && resp.Response != nil &&
		(resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone) {
		return true
	}
	var er *gh.ErrorResponse
	return errors.As(err, &er) && er.Response != nil &&
		(er.Response.StatusCode == http.StatusNotFound || er.Response.StatusCode == http.StatusGone)
}

func status(resp *gh.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

func user(u *gh.User) forge.User {
	return forge.User{ID: u.GetID(), Login: u.GetLogin()}
}

// Self is the login the client acts as: the token's user, or a GitHub
// App's bot "SLUG[bot]"; "" when GitHub will not say (an App installation
// token given as a fixed token). Asked once.
func (c *Client) Self(ctx context.Context) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if c.loginKnown {
		return c.login, nil
	}
	if c.app != nil {
		slug, err := c.app.slug(ctx)
		if err != nil {
			return "", err
		}
		c.login, c.loginKnown = slug+"[bot]", true
		return c.login, nil
	}
	u, resp, err := c.gh.Users.Get(ctx, "")
	switch {
	case err == nil:
		c.login = u.GetLogin()
	case status(resp) == http.StatusForbidden || status(resp) == http.StatusNotFound:
		// "Resource not accessible by integration": an App token.
		c.login = ""
	default:
		return "", fail(resp, err, "asking who the token belongs to")
	}
	c.loginKnown = true
	return c.login, nil
}
