// Package gitlab is the forge adapter for GitLab (gitlab.com and
// self-managed): webhook verification and parsing, and the REST API v4
// through the official client, gitlab.com/gitlab-org/api/client-go.
//
// The client's own retry loop (go-retryablehttp, which sleeps on the wall
// clock with jitter) is switched off; every API call goes through retry.go
// instead: a bounded, deterministic exponential backoff on 5xx answers and
// network errors, and 429 answers honouring Retry-After / RateLimit-Reset,
// on an injectable clock and sleep.
package gitlab

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
)

var _ forge.Forge = (*Client)(nil)

// commentLimit is GitLab's limit on a note's body: 1,000,000 characters,
// so never fewer bytes.
const commentLimit = 1000000

// perPage is the page size asked for on every listing (GitLab's maximum).
const perPage = 100

// defaultBaseURL is gitlab.com.
const defaultBaseURL = "https://gitlab.com"

// Client is a forge.Forge for one GitLab instance, acting with one token.
type Client struct {
	gl        *gl.Client
	token     string
	cloneUser string
	webURL    *url.URL // https://gitlab.example.com/ (a sub-path is kept)

	retry retryPolicy
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	log   *slog.Logger

	// self is the account the token acts as (GET /user, asked once);
	// UpsertComment only touches that account's notes.
	selfMu sync.Mutex
	self   *forge.User
}

// Option configures New.
type Option func(*options)

type options struct {
	retry     retryPolicy
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	log       *slog.Logger
	cloneUser string
}

// WithRetry sets how many attempts one API call gets in all (at least 1;
// default 5) and the longest wait Sluice accepts between two attempts
// (default one minute): a 429 whose Retry-After or RateLimit-Reset asks
// for longer fails at once, naming the time to come back.
func WithRetry(maxAttempts int, maxWait time.Duration) Option {
	return func(o *options) {
		if maxAttempts >= 1 {
			o.retry.maxAttempts = maxAttempts
		}
		if maxWait > 0 {
			o.retry.maxWait = maxWait
		}
	}
}

// WithBackoff sets the wait before the second attempt after a 5xx answer
// or a network error (default one second); it doubles on each further
// attempt, up to the maximum wait. There is no jitter: one Sluice server
// is one client, and deterministic waits are testable.
func WithBackoff(base time.Duration) Option {
	return func(o *options) {
		if base > 0 {
			o.retry.baseDelay = base
		}
	}
}

// WithSleep replaces the wait between attempts (tests pass a fake that
// records the durations). It must return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = sleep }
}

// WithClock replaces time.Now: it turns RateLimit-Reset and HTTP-date
// Retry-After headers into waits, and judges webhook-timestamp.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger receives a line for every retried attempt (the final error
// is returned, not logged).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCloneUser sets the user name git sends with the token over HTTPS
// (default "oauth2", which GitLab accepts for personal, project and group
// access tokens alike).
func WithCloneUser(user string) Option { return func(o *options) { o.cloneUser = user } }

// New returns a client for the GitLab instance at baseURL ("" for
// https://gitlab.com; a self-managed instance under a sub-path, like
// https://example.com/gitlab, works too), acting with token: a project,
// group or personal access token with the api scope.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	o := options{
		retry:     retryPolicy{maxAttempts: 5, maxWait: time.Minute, baseDelay: time.Second},
		now:       time.Now,
		sleep:     forge.Sleep,
		cloneUser: "oauth2",
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if baseURL == "" {
		baseURL = defaultBaseURL
	}
	web, err := url.Parse(strings.TrimSuffix(strings.TrimRight(baseURL, "/"), "/api/v4"))
	if err != nil || (web.Scheme != "https" && web.Scheme != "http") || web.Host == "" {
		return nil, fmt.Errorf("gitlab: URL %q is not an http(s) URL like https://gitlab.example.com", baseURL)
	}
	web.Path = strings.TrimRight(web.Path, "/") + "/"
	web.RawQuery, web.Fragment = "", ""

	clientOpts := []gl.ClientOptionFunc{
		gl.WithURLWarningLogger(o.log),
		gl.WithBaseURL(web.String()),
		// retry.go retries instead: deterministic, injectable clock.
		gl.WithoutRetries(),
		gl.WithUserAgent("sluice"),
		// A hung answer ends the attempt (and is retried when it may be)
		// rather than holding the call until its context ends.
		gl.WithHTTPClient(&http.Client{Timeout: time.Minute}),
	}
	client, err := gl.NewClient(token, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("gitlab: creating the API client for %s: %w", web, err)
	}
	return &Client{
		gl:        client,
		token:     token,
		cloneUser: o.cloneUser,
		webURL:    web,
		retry:     o.retry,
		now:       o.now,
		sleep:     o.sleep,
		log:       o.log,
	}, nil
}

// Name is "gitlab".
func (c *Client) Name() string { return "gitlab" }

// CommentLimit is GitLab's note size limit (1,000,000 characters).
func (c *Client) CommentLimit() int { return commentLimit }

// CloneURL is the project's HTTPS clone URL, without credentials.
func (c *Client) CloneURL(repo string) string {
	return c.webURL.JoinPath(repo + ".git").String()
}

// CloneAuth is the user name and password git uses over HTTPS.
func (c *Client) CloneAuth() (username, token string) { return c.cloneUser, c.token }

// Parse verifies and parses a webhook delivery (see ParseWebhook), judging
// webhook-timestamp against the client's clock.
func (c *Client) Parse(h http.Header, body []byte, secret []byte) (*forge.Event, error) {
	return ParseWebhook(h, body, secret, c.now())
}

// Precheck judges a delivery by its headers alone (see PrecheckWebhook).
func (c *Client) Precheck(h http.Header, secret []byte) error {
	return PrecheckWebhook(h, secret, c.now())
}

// MaxBody is GitLab's payload cap: it sends no webhook whose JSON is over
// 25 MB.
func (c *Client) MaxBody() int64 { return forge.MaxWebhookBody }

// Self is the username of the account the token acts as.
func (c *Client) Self(ctx context.Context) (string, error) {
	u, err := c.whoami(ctx)
	return u.Login, err
}

// whoami is the account the token acts as, asked of GET /user once.
func (c *Client) whoami(ctx context.Context) (forge.User, error) {
	c.selfMu.Lock()
	defer c.selfMu.Unlock()
	if c.self != nil {
		return *c.self, nil
	}
	u, err := fetch(ctx, c, "asking GitLab which account the token belongs to", true, c.gl.Users.CurrentUser)
	if err != nil {
		return forge.User{}, err
	}
	c.self = &forge.User{ID: u.ID, Login: u.Username}
	return *c.self, nil
}

// userByLogin finds a user by username (case-insensitive, as GitLab
// matches it); forge.ErrNotFound when there is none.
func (c *Client) userByLogin(ctx context.Context, login string) (forge.User, error) {
	what := fmt.Sprintf("looking up the GitLab user %q", login)
	if login == "" {
		return forge.User{}, fmt.Errorf("gitlab: %s: empty user name: %w", what, forge.ErrNotFound)
	}
	us, err := fetch(ctx, c, what, true, func(o ...gl.RequestOptionFunc) ([]*gl.User, *gl.Response, error) {
		return c.gl.Users.ListUsers(&gl.ListUsersOptions{Username: gl.Ptr(login)}, o...)
	})
	if err != nil {
		return forge.User{}, err
	}
	for _, u := range us {
		if strings.EqualFold(u.Username, login) {
			return forge.User{ID: u.ID, Login: u.Username}, nil
		}
	}
	return forge.User{}, fmt.Errorf("gitlab: %s: no such user: %w", what, forge.ErrNotFound)
}

func basicUser(u *gl.BasicUser) forge.User {
	if u == nil {
		return forge.User{}
	}
	return forge.User{ID: u.ID, Login: u.Username}
}
