package gitlab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
)

// retryPolicy is how one API call is retried:
//
//   - 429 Too Many Requests: always retried (GitLab did not act on the
//     request), after Retry-After (seconds or an HTTP date), else until
//     RateLimit-Reset (Unix seconds), else after the backoff below. When
//     GitLab asks for more than maxWait the call fails at once, saying
//     when to come back, so a worker is not held for the length of a
//     rate-limit window.
//   - 5xx (but 501 Not Implemented) and network errors without an answer:
//     retried after baseDelay, doubling each attempt, capped at maxWait —
//     for calls that may be repeated (reads, edits, deletes, commit
//     statuses). Creating a note or an issue is retried only on 503 and
//     429, where GitLab did not act; on any other failure it may have, and
//     a retry could post twice.
//   - anything else (4xx) is final; 404 becomes forge.ErrNotFound.
//
// Each call gets at most maxAttempts attempts.
type retryPolicy struct {
	maxAttempts int
	maxWait     time.Duration
	baseDelay   time.Duration
}

// maxPages bounds a listing, against a server that never stops paging.
const maxPages = 1000

// apiCall is one request to the API, made with the options it is given
// (the context, and the page to fetch when listing).
type apiCall func(opts ...gl.RequestOptionFunc) (*gl.Response, error)

// call makes one API call with retries. what names the call in errors,
// lower case: "getting merge request org/infra!12". idempotent says the
// call may be repeated when GitLab may already have carried it out.
func (c *Client) call(ctx context.Context, what string, idempotent bool, fn apiCall) error {
	for attempt := 1; ; attempt++ {
		resp, err := fn(gl.WithContext(ctx))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("gitlab: %s: %w", what, ctx.Err())
		}
		status := statusOf(resp, err)
		if status == http.StatusNotFound {
			return fmt.Errorf("gitlab: %s: %w (%w)", what, forge.ErrNotFound, err)
		}
		wait, asked, retry := c.backoff(status, resp, idempotent, attempt)
		if !retry {
			return c.final(what, status, err)
		}
		if attempt >= c.retry.maxAttempts {
			return fmt.Errorf("gitlab: %s (gave up after %d attempts): %w", what, attempt, err)
		}
		if asked && wait > c.retry.maxWait {
			return fmt.Errorf("gitlab: %s: GitLab asks to wait %s (until %s), longer than the %s Sluice waits; try again then: %w",
				what, wait.Round(time.Second), c.now().Add(wait).UTC().Format(time.RFC3339), c.retry.maxWait, err)
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "gitlab: retrying API call",
			slog.String("call", what), slog.Int("attempt", attempt), slog.Int("status", status),
			slog.Duration("wait", wait), slog.String("error", err.Error()))
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("gitlab: %s: %w", what, err)
		}
	}
}

// fetch is call for an API call that answers a value.
func fetch[T any](ctx context.Context, c *Client, what string, idempotent bool, fn func(opts ...gl.RequestOptionFunc) (T, *gl.Response, error)) (T, error) {
	var v T
	err := c.call(ctx, what, idempotent, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		var resp *gl.Response
		var err error
		v, resp, err = fn(o...)
		return resp, err
	})
	return v, err
}

// backoff decides whether the failed attempt is retried, and after how
// long; asked is true when the wait is GitLab's (Retry-After,
// RateLimit-Reset) rather than Sluice's own backoff.
func (c *Client) backoff(status int, resp *gl.Response, idempotent bool, attempt int) (wait time.Duration, asked, retry bool) {
	switch {
	case status == http.StatusTooManyRequests:
	case status == http.StatusServiceUnavailable:
	case status >= 500 && status != http.StatusNotImplemented:
		if !idempotent {
			return 0, false, false
		}
	case status == 0: // no answer: connection refused, reset, timeout
		if !idempotent {
			return 0, false, false
		}
	default:
		return 0, false, false
	}
	if resp != nil && resp.Response != nil {
		if d, ok := c.askedWait(resp.Header); ok {
			return d, true, true
		}
	}
	d := c.retry.baseDelay << (attempt - 1)
	if d > c.retry.maxWait || d <= 0 {
		d = c.retry.maxWait
	}
	return d, false, true
}

// askedWait reads how long GitLab asks the client to wait: Retry-After
// (delay-seconds or an HTTP date), else RateLimit-Reset (Unix seconds).
func (c *Client) askedWait(h http.Header) (time.Duration, bool) {
	if d, ok := forge.RetryAfter(h, c.now()); ok {
		return d, true
	}
	if v := h.Get("RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
			return max(time.Unix(s, 0).Sub(c.now()), 0), true
		}
	}
	return 0, false
}

// final wraps an error that is not retried, with a hint for the answers a
// user can fix.
func (c *Client) final(what string, status int, err error) error {
	switch status {
	case http.StatusUnauthorized:
		return fmt.Errorf("gitlab: %s: %w; the token is invalid, expired or revoked: create a new one", what, err)
	case http.StatusForbidden:
		return fmt.Errorf("gitlab: %s: %w; the token needs the api scope and at least the Developer role on the project (see docs/forges/gitlab.md)", what, err)
	}
	return fmt.Errorf("gitlab: %s: %w", what, err)
}

// statusOf is the HTTP status of a failed call, 0 when there was no answer.
func statusOf(resp *gl.Response, err error) int {
	if resp != nil && resp.Response != nil {
		return resp.StatusCode
	}
	var er *gl.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// errorMessage is GitLab's message for a failed call ("" if none).
func errorMessage(err error) string {
	var er *gl.ErrorResponse
	if errors.As(err, &er) {
		return er.Message
	}
	return ""
}

// collect lists every page of a listing, each page one retried call.
// Offset pagination (X-Next-Page) and keyset pagination (Link rel="next")
// are both followed.
func collect[T any](ctx context.Context, c *Client, what string, list func(opts ...gl.RequestOptionFunc) ([]T, *gl.Response, error)) ([]T, error) {
	var all []T
	var next gl.RequestOptionFunc
	for page := 1; ; page++ {
		var items []T
		var resp *gl.Response
		err := c.call(ctx, what, true, func(opts ...gl.RequestOptionFunc) (*gl.Response, error) {
			if next != nil {
				opts = append(opts, next)
			}
			var err error
			items, resp, err = list(opts...)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		n, ok := gl.WithNext(resp)
		if !ok || len(items) == 0 {
			return all, nil
		}
		if page >= maxPages {
			return nil, fmt.Errorf("gitlab: %s: more than %d pages; giving up", what, maxPages)
		}
		next = n
	}
}

// listOptions asks for the largest page.
func listOptions() gl.ListOptions { return gl.ListOptions{PerPage: perPage} }
