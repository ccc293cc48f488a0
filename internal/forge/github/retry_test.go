package github

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// fakeSleep records the waits instead of sleeping.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, d)
	return ctx.Err()
}

func (f *fakeSleep) got() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func retryClient(t *testing.T, s *recorded, f *fakeSleep, opts ...Option) *Client {
	t.Helper()
	return s.client(t, append([]Option{WithSleep(f.sleep), WithClock(func() time.Time { return now })}, opts...)...)
}

const (
	getPull      = "GET /repos/octocat/Hello-World/pulls/1347"
	postComment  = "POST /repos/octocat/Hello-World/issues/1347/comments"
	postStatus   = "POST /repos/octocat/Hello-World/statuses/" + headSHA
	postGraphQL  = "POST /api/graphql"
	secondaryMsg = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
)

func TestRetry(t *testing.T) {
	ctx := context.Background()
	reset := strconv.FormatInt(now.Add(30*time.Second).Unix(), 10)
	for _, tc := range []struct {
		name   string
		key    string
		faults []fault
		call   func(*Client) error
		// hits is how many requests reach the server; waits the exact
		// waits (nil: only their count, one per fault, is checked).
		hits    int
		waits   []time.Duration
		wantErr string // a regular expression; "" for success
	}{
		{
			name:   "502 then success",
			key:    getPull,
			faults: []fault{{status: 502, body: "<html>Bad Gateway</html>"}},
			call:   getMR, hits: 2,
		},
		{
			name:   "503 and 504 then success",
			key:    getPull,
			faults: []fault{{status: 503}, {status: 504}},
			call:   getMR, hits: 3,
		},
		{
			name:   "429 with Retry-After",
			key:    getPull,
			faults: []fault{{status: 429, header: map[string]string{"Retry-After": "7"}, body: secondaryMsg}},
			call:   getMR, hits: 2, waits: []time.Duration{7 * time.Second},
		},
		{
			name: "secondary rate limit 403 with Retry-After",
			key:  getPull,
			faults: []fault{{status: 403, header: map[string]string{"Retry-After": "12"},
				body: string(readFile(t, "secondary-rate-limit.json"))}},
			call: getMR, hits: 2, waits: []time.Duration{12 * time.Second},
		},
		{
			name: "rate limit 403 with x-ratelimit-reset",
			key:  getPull,
			faults: []fault{{status: 403, header: map[string]string{
				"X-Ratelimit-Limit": "5000", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Used": "5000", "X-Ratelimit-Reset": reset,
			}, body: `{"message":"API rate limit exceeded for installation ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`}},
			call: getMR, hits: 2, waits: []time.Duration{30 * time.Second},
		},
		{
			name:   "secondary rate limit named only in the body",
			key:    getPull,
			faults: []fault{{status: 403, body: string(readFile(t, "secondary-rate-limit.json"))}},
			call:   getMR, hits: 2, waits: []time.Duration{time.Minute},
		},
		{
			name:   "persistent 500",
			key:    getPull,
			faults: slices.Repeat([]fault{{status: 500, body: `{"message":"Server Error"}`}}, 5),
			call:   getMR, hits: 4,
			wantErr: `^github: getting pull request octocat/Hello-World#1347: Get "http://127\.0\.0\.1:\d+/api/v3/repos/octocat/Hello-World/pulls/1347": 500 Internal Server Error: Server Error \(gave up after 4 attempts\)$`,
		},
		{
			name:   "a real permission 403",
			key:    getPull,
			faults: []fault{{status: 403, body: string(readFile(t, "forbidden.json"))}},
			call:   getMR, hits: 1, waits: []time.Duration{},
			wantErr: "403 Resource not accessible by integration",
		},
		{
			name:   "Retry-After beyond the cap",
			key:    getPull,
			faults: []fault{{status: 429, header: map[string]string{"Retry-After": "3600"}}},
			call:   getMR, hits: 1, waits: []time.Duration{},
			wantErr: "429",
		},
		{
			name:   "a comment is not posted twice after a 502",
			key:    postComment,
			faults: []fault{{status: 502}},
			call:   reply, hits: 1, waits: []time.Duration{},
			wantErr: "502",
		},
		{
			name:   "a comment refused by a rate limit is posted again",
			key:    postComment,
			faults: []fault{{status: 429, header: map[string]string{"Retry-After": "2"}}},
			call:   reply, hits: 2, waits: []time.Duration{2 * time.Second},
		},
		{
			name:   "a status is set again after a 503",
			key:    postStatus,
			faults: []fault{{status: 503}},
			call:   setStatus, hits: 2,
		},
		{
			name:   "the GraphQL query is sent again after a 502",
			key:    postGraphQL,
			faults: []fault{{status: 502}},
			call:   threads, hits: 3, // page 1 twice, page 2
		},
		{
			name:   "404 is not retried",
			key:    "GET /repos/octocat/Hello-World/pulls/9",
			faults: nil,
			call:   func(c *Client) error { _, err := c.GetMR(ctx, testRepo, 9); return err },
			hits:   1, waits: []time.Duration{},
			wantErr: "not found",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRecorded(t)
			s.fail(tc.key, tc.faults...)
			f := &fakeSleep{}
			err := tc.call(retryClient(t, s, f))
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !regexp.MustCompile(tc.wantErr).MatchString(err.Error())) {
				t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
			}
			if got := s.hitCount(tc.key); got != tc.hits {
				t.Errorf("%d requests reached the server, want %d", got, tc.hits)
			}
			waits := f.got()
			switch {
			case tc.waits != nil:
				if len(waits) != len(tc.waits) {
					t.Fatalf("waits = %v, want %v", waits, tc.waits)
				}
				for i := range waits {
					if waits[i] != tc.waits[i] {
						t.Errorf("waits = %v, want %v", waits, tc.waits)
					}
				}
			case tc.wantErr == "" && len(waits) != len(tc.faults):
				t.Errorf("waits = %v, want %d", waits, len(tc.faults))
			}
			for _, w := range waits {
				if w <= 0 || w > time.Minute {
					t.Errorf("wait %v out of (0, 1m]", w)
				}
			}
		})
	}
}

func getMR(c *Client) error {
	mr, err := c.GetMR(context.Background(), testRepo, 1347)
	if err == nil && mr.HeadSHA != headSHA {
		return errors.New("wrong pull request")
	}
	return err
}

func reply(c *Client) error { return c.Reply(context.Background(), testRepo, 1347, "hello") }

func setStatus(c *Client) error {
	return c.SetStatus(context.Background(), testRepo, headSHA, forge.Check{Name: "sluice/plan: x", State: forge.CheckPending})
}

func threads(c *Client) error {
	n, err := c.UnresolvedThreads(context.Background(), testRepo, 1347)
	if err == nil && n != 2 {
		return errors.New("wrong count")
	}
	return err
}

func TestRetryBackoffGrows(t *testing.T) {
	s := newRecorded(t)
	s.fail(getPull, fault{status: 500}, fault{status: 500}, fault{status: 500})
	f := &fakeSleep{}
	c := retryClient(t, s, f, WithRetry(5, time.Minute), WithBackoff(time.Second))
	if err := getMR(c); err != nil {
		t.Fatal(err)
	}
	waits := f.got()
	if len(waits) != 3 {
		t.Fatalf("waits = %v", waits)
	}
	for i, w := range waits {
		lo, hi := time.Second<<i/2, time.Second<<i
		if w < lo || w > hi {
			t.Errorf("wait %d = %v, want in [%v, %v]", i+1, w, lo, hi)
		}
	}
}

func TestRetryStopsWhenTheContextEnds(t *testing.T) {
	s := newRecorded(t)
	s.fail(getPull, fault{status: 503}, fault{status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	c := s.client(t, WithSleep(func(ctx context.Context, d time.Duration) error {
		cancel()
		return forge.Sleep(ctx, d) // the real sleep, already cancelled
	}))
	_, err := c.GetMR(ctx, testRepo, 1347)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := s.hitCount(getPull); n != 1 {
		t.Errorf("%d requests after cancelling, want 1", n)
	}
}

func TestRetryAfterAsDate(t *testing.T) {
	rt := &retryTransport{now: func() time.Time { return now }}
	h := http.Header{}
	h.Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
	if d, ok := rt.namedWait(h); !ok || d != 90*time.Second {
		t.Errorf("namedWait = %v, %v; want 1m30s", d, ok)
	}
}
