package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// The retry policy, applied under go-github by retryTransport:
//
//   - 500, 502, 503 and 504, and transport errors (connection refused or
//     reset): retried only for idempotent requests — GET, HEAD, PUT,
//     PATCH, DELETE, and the POSTs marked idempotent (creating a commit
//     status, which replaces the previous one of the same context, and the
//     read-only GraphQL query). A POST that creates a comment or an issue
//     is not retried on these: the request may have landed, and a retry
//     would post it twice. UpsertComment is safe to run again at the job
//     level, since it finds its comment by marker.
//   - 429, and 403 when it is a rate limit (a Retry-After header,
//     x-ratelimit-remaining: 0, or a body that says "rate limit"):
//     retried for every method, POST included, since GitHub refused the
//     request without doing it.
//   - A 403 without any of those is a permission error and is returned
//     at once, as is every other 4xx.
//
// The wait is Retry-After when given, else the time until
// x-ratelimit-reset when x-ratelimit-remaining is 0, else one minute for
// a secondary rate limit named only in the body (GitHub's advice), else
// exponential backoff with jitter from baseDelay. A wait longer than
// maxWait is not waited: the answer is returned as it is. After
// maxAttempts the transport gives up with a *RetryError naming the call.

type ctxKey int

const (
	idempotentKey ctxKey = iota
	repoKey              // the "owner/name" a request is about (withRepo)
)

// idempotent marks ctx so that a POST made with it may be retried on 5xx.
func idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey, true)
}

// RetryError is returned when a request still fails after every attempt.
// net/http wraps it in a *url.Error that names the method and URL.
type RetryError struct {
	Method   string
	Path     string
	Attempts int
	// Status is the last HTTP status (0 after a transport error) and
	// Message what GitHub said with it.
	Status  int
	Message string
	Err     error // the last transport error, if that is what failed
}

func (e *RetryError) Error() string {
	var what string
	switch {
	case e.Err != nil:
		what = e.Err.Error()
	case e.Message != "":
		what = fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
	default:
		what = fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s (gave up after %d attempts)", what, e.Attempts)
}

func (e *RetryError) Unwrap() error { return e.Err }

type retryTransport struct {
	next        http.RoundTripper
	maxAttempts int
	maxWait     time.Duration
	baseDelay   time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
}

// maxErrorBody bounds how much of an error answer is read to classify it.
const maxErrorBody = 64 << 10

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			var err error
			if r, err = rewind(req); err != nil {
				return nil, err
			}
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil && ctx.Err() != nil {
			return nil, err
		}
		wait, retry, msg := t.classify(req, resp, err, attempt)
		if !retry {
			return resp, err
		}
		if attempt >= t.maxAttempts {
			rerr := &RetryError{Method: req.Method, Path: req.URL.Path, Attempts: attempt, Err: err, Message: msg}
			if resp != nil {
				rerr.Status = resp.StatusCode
				drain(resp)
			}
			return nil, rerr
		}
		if resp != nil {
			drain(resp)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// classify says whether to retry and after how long; msg is GitHub's
// message from an error body.
func (t *retryTransport) classify(req *http.Request, resp *http.Response, err error, attempt int) (wait time.Duration, retry bool, msg string) {
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	canRepeat := repeatable(req) && resendable
	if err != nil {
		return t.backoff(attempt), canRepeat, ""
	}
	code := resp.StatusCode
	if code != http.StatusTooManyRequests && code != http.StatusForbidden &&
		code != http.StatusInternalServerError && code != http.StatusBadGateway &&
		code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
		return 0, false, ""
	}
	body := peek(resp)
	msg = message(body)
	named, hasNamed := t.namedWait(resp.Header)
	switch {
	case code >= 500:
		if !canRepeat {
			return 0, false, msg
		}
		if hasNamed {
			wait = named
		} else {
			wait = t.backoff(attempt)
		}
	case code == http.StatusTooManyRequests:
		if hasNamed {
			wait = named
		} else {
			wait = max(t.backoff(attempt), secondaryWait(body))
		}
	default: // 403
		switch {
		case hasNamed:
			wait = named
		case isRateLimitBody(body):
			wait = max(t.backoff(attempt), time.Minute)
		default:
			return 0, false, msg // a permission error
		}
	}
	if !resendable {
		return 0, false, msg
	}
	if wait > t.maxWait {
		return 0, false, msg
	}
	return wait, true, msg
}

// namedWait is the wait the server asks for: Retry-After (seconds or an
// HTTP date), else the time until x-ratelimit-reset when no requests
// remain.
func (t *retryTransport) namedWait(h http.Header) (time.Duration, bool) {
	if d, ok := forge.RetryAfter(h, t.now()); ok {
		return d, true
	}
	if h.Get("X-Ratelimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(s, 0).Sub(t.now()), 0), true
		}
	}
	return 0, false
}

// backoff is baseDelay·2^(attempt-1), with the upper half jittered.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.baseDelay << min(attempt-1, 16)
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + rand.Int64N(half+1))
	}
	return min(d, t.maxWait)
}

// secondaryWait is GitHub's advice for a secondary rate limit that names
// no wait: at least a minute.
func secondaryWait(body []byte) time.Duration {
	if isRateLimitBody(body) {
		return time.Minute
	}
	return 0
}

func isRateLimitBody(body []byte) bool {
	b := strings.ToLower(string(body))
	return strings.Contains(b, "rate limit") || strings.Contains(b, "secondary-rate-limits") ||
		strings.Contains(b, "abuse-rate-limits")
}

// repeatable: may the request be sent twice?
func repeatable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	v, _ := req.Context().Value(idempotentKey).(bool)
	return v
}

// rewind copies req with a fresh body for another attempt.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body != nil && req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("github: resending %s %s: %w", req.Method, req.URL.Path, err)
		}
		r.Body = b
	}
	return r, nil
}

// peek reads the start of resp's body and puts it back.
func peek(resp *http.Response) []byte {
	if resp.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	return b
}

// message is the "message" of a GitHub error body.
func message(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		return e.Message
	}
	return ""
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}
