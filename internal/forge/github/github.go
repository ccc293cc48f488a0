// Package github is the forge adapter for GitHub and GitHub Enterprise
// Server: webhook verification and parsing, and the REST API (plus one
// GraphQL query) through the official go-github client.
//
// Every request goes through a retrying http.RoundTripper (see retry.go):
// 5xx answers, 429 and rate-limit 403s are retried with backoff, honouring
// Retry-After and x-ratelimit-reset up to a cap, on a context-aware sleep.
package github

import (
	"context"
	"errors"
	"fmt"
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

// Client is a forge.Forge for one GitHub (or GitHub Enterprise Server)
// instance, acting with one token.
type Client struct {
	gh         *gh.Client
	token      string
	webURL     *url.URL // https://github.com/ or https://ghe.example.com/
	graphqlURL string

	// login is the account the token acts as; UpsertComment only touches
	// that account's comments. Set by WithLogin, else learnt from GET /user.
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

// WithClock replaces time.Now, used to turn x-ratelimit-reset into a wait.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogin names the account the token acts as — for a GitHub App, its
// bot login ("my-app[bot]"). UpsertComment then only edits and deletes
// that account's comments. Without it the login is asked of GET /user
// once; App installation tokens cannot ask, and then comments by anyone
// that carry the marker are taken as Sluice's.
func WithLogin(login string) Option { return func(o *options) { o.login = login } }

// New returns a client for the GitHub API at baseURL: "" for github.com,
// else a GitHub Enterprise Server API URL (https://host/api/v3/; the
// /api/v3/ suffix is added when missing).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	o := options{
		maxAttempts: 4,
		maxWait:     time.Minute,
		baseDelay:   time.Second,
		sleep:       forge.Sleep,
		now:         time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	client := gh.NewClient(&http.Client{Transport: &retryTransport{
		next:        http.DefaultTransport,
		maxAttempts: o.maxAttempts,
		maxWait:     o.maxWait,
		baseDelay:   o.baseDelay,
		sleep:       o.sleep,
		now:         o.now,
	}})
	if token != "" {
		client = client.WithAuthToken(token)
	}
	c := &Client{token: token, login: o.login, loginKnown: o.login != ""}
	if baseURL == "" {
		c.webURL = &url.URL{Scheme: "https", Host: "github.com", Path: "/"}
		c.graphqlURL = "https://api.github.com/graphql"
	} else {
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
	}
	c.gh = client
	return c, nil
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
// takes any token as the password of "x-access-token".
func (c *Client) CloneAuth() (username, token string) { return "x-access-token", c.token }

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

// self is the login the token acts as, or "" when GitHub will not say
// (App installation tokens).
func (c *Client) self(ctx context.Context) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if c.loginKnown {
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
