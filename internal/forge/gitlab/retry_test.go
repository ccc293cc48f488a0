package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// mrPath matches GET of merge request 133 itself, not its sub-resources.
const mrPath = "merge_requests/133?"

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestRetry(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name     string
		opts     []Option
		faults   []fault
		call     func(ctx context.Context, c *Client) error
		method   string
		path     string
		attempts int
		slept    []time.Duration
		wantErr  []string // substrings of the error; nil: success
	}{
		{
			name:   "502 then success",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 502}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 2, slept: []time.Duration{s},
		},
		{
			name:   "500, 503, 504 then success: doubling backoff",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 500}, {method: "GET", path: mrPath, times: 1, status: 503}, {method: "GET", path: mrPath, times: 1, status: 504}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 4, slept: []time.Duration{s, 2 * s, 4 * s},
		},
		{
			name:   "429 with Retry-After seconds",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 429, header: header("Retry-After", "7", "RateLimit-Reset", strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10))}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 2, slept: []time.Duration{7 * s},
		},
		{
			name:   "429 with Retry-After as an HTTP date",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 429, header: header("Retry-After", testNow.Add(30*s).Format(http.TimeFormat))}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 2, slept: []time.Duration{30 * s},
		},
		{
			name:   "429 with RateLimit-Reset",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 429, header: header("RateLimit-Reset", strconv.FormatInt(testNow.Add(20*s).Unix(), 10))}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 2, slept: []time.Duration{20 * s},
		},
		{
			name:   "429 without a hint: backoff",
			faults: []fault{{method: "GET", path: mrPath, times: 2, status: 429}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 3, slept: []time.Duration{s, 2 * s},
		},
		{
			name:   "429 asking for longer than Sluice waits",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 429, header: header("Retry-After", "3600")}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 1,
			wantErr: []string{"getting merge request marcel.amirault/test-project!133", "GitLab asks to wait 1h0m0s (until 2026-03-02T11:00:00Z)", "429"},
		},
		{
			name:   "persistent 500",
			faults: []fault{{method: "GET", path: mrPath, times: -1, status: 500}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 5, slept: []time.Duration{s, 2 * s, 4 * s, 8 * s},
			wantErr: []string{"gitlab: getting merge request marcel.amirault/test-project!133 (gave up after 5 attempts)", "500"},
		},
		{
			name:   "backoff capped at the longest wait",
			opts:   []Option{WithRetry(6, 3*s), WithBackoff(s)},
			faults: []fault{{method: "GET", path: mrPath, times: -1, status: 502}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 6, slept: []time.Duration{s, 2 * s, 3 * s, 3 * s, 3 * s},
			wantErr: []string{"gave up after 6 attempts"},
		},
		{
			name:   "no answer, on a read: retried",
			faults: []fault{{method: "GET", path: mrPath, times: 1, hangup: true}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 2, slept: []time.Duration{s},
		},
		{
			name:   "501 is final",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 501}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 1,
			wantErr: []string{"501"},
		},
		{
			name:   "404 is final",
			call:   func(ctx context.Context, c *Client) error { _, err := c.GetMR(ctx, testProject, 999); return err },
			method: "GET", path: "merge_requests/999", attempts: 1,
			wantErr: []string{"not found"},
		},
		{
			name:   "401 says what to do",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 401}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 1,
			wantErr: []string{"401", "create a new one"},
		},
		{
			name:   "403 says what to do",
			faults: []fault{{method: "GET", path: mrPath, times: 1, status: 403}},
			call:   getMR,
			method: "GET", path: mrPath, attempts: 1,
			wantErr: []string{"403", "api scope"},
		},
		{
			name:   "a new note is not posted again after a 500",
			faults: []fault{{method: "POST", path: "/notes", times: 1, status: 500}},
			call:   reply,
			method: "POST", path: "/notes", attempts: 1,
			wantErr: []string{"commenting on merge request marcel.amirault/test-project!133", "500"},
		},
		{
			name:   "a new note is not posted again without an answer",
			faults: []fault{{method: "POST", path: "/notes", times: 1, hangup: true}},
			call:   reply,
			method: "POST", path: "/notes", attempts: 1,
			wantErr: []string{"commenting on merge request"},
		},
		{
			name:   "a new note is posted again after a 503",
			faults: []fault{{method: "POST", path: "/notes", times: 1, status: 503}},
			call:   reply,
			method: "POST", path: "/notes", attempts: 2, slept: []time.Duration{s},
		},
		{
			name:   "a new note is posted again after a 429",
			faults: []fault{{method: "POST", path: "/notes", times: 1, status: 429, header: header("Retry-After", "2")}},
			call:   reply,
			method: "POST", path: "/notes", attempts: 2, slept: []time.Duration{2 * s},
		},
		{
			name:   "a commit status is set again after a 500",
			faults: []fault{{method: "POST", path: "statuses/", times: 1, status: 500}},
			call: func(ctx context.Context, c *Client) error {
				return c.SetStatus(ctx, testProject, testHead, forge.Check{Name: "sluice/plan", State: forge.CheckSuccess})
			},
			method: "POST", path: "statuses/", attempts: 2, slept: []time.Duration{s},
		},
		{
			name:   "one page of a listing fails once",
			faults: []fault{{method: "GET", path: "discussions?page=2", times: 1, status: 502}},
			opts:   nil,
			call:   func(ctx context.Context, c *Client) error { return threads(ctx, c, 2) },
			method: "GET", path: "discussions", attempts: 3, slept: []time.Duration{s},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGitLab(t)
			if strings.Contains(tc.name, "listing") {
				f.maxPerPage = 1 // the two documented discussions on two pages
			}
			for _, fl := range tc.faults {
				f.inject(fl)
			}
			c, clock := newTestClient(t, f, tc.opts...)
			err := tc.call(context.Background(), c)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != nil && err == nil:
				t.Fatal("no error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to contain %q", err, want)
				}
			}
			if got := f.count(tc.method, tc.path); got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
			if got := clock.Slept(); !slices.Equal(got, tc.slept) {
				t.Errorf("slept %v, want %v", got, tc.slept)
			}
		})
	}
}

func getMR(ctx context.Context, c *Client) error {
	_, err := c.GetMR(ctx, testProject, testMR)
	return err
}

func reply(ctx context.Context, c *Client) error {
	return c.Reply(ctx, testProject, testMR, "sluice plan")
}

func threads(ctx context.Context, c *Client, want int) error {
	n, err := c.UnresolvedThreads(ctx, testProject, testMR)
	if err == nil && n != want {
		return fmt.Errorf("%d unresolved threads, want %d", n, want)
	}
	return err
}

func TestRetryStopsWithTheContext(t *testing.T) {
	f := newFakeGitLab(t)
	f.inject(fault{method: "GET", path: mrPath, times: -1, status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	c, _ := newTestClient(t, f, WithSleep(func(ctx context.Context, d time.Duration) error {
		calls++
		cancel()
		return ctx.Err()
	}))
	_, err := c.GetMR(ctx, testProject, testMR)
	if !errors.Is(err, context.Canceled) || calls != 1 || f.count("GET", mrPath) != 1 {
		t.Errorf("err = %v after %d sleeps and %d attempts; want context.Canceled after one of each", err, calls, f.count("GET", mrPath))
	}
}
