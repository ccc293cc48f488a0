package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge/gitea"
	"github.com/sluicehq/sluice/internal/store"
)

// countingJobs counts the event jobs the flow enqueues: each is one event
// to process.
type countingJobs struct{ events atomic.Int64 }

func (j *countingJobs) EnqueueEvent(context.Context, int64) error { j.events.Add(1); return nil }
func (j *countingJobs) RequeueEvent(context.Context, int64, []string) error {
	return nil
}
func (j *countingJobs) EnqueuePlan(context.Context, int64) error  { return nil }
func (j *countingJobs) EnqueueApply(context.Context, int64) error { return nil }
func (j *countingJobs) RequeueApply(context.Context, int64, []string) error {
	return nil
}

// capture is a delivery recorded from a real Gitea, as an attacker who
// saw it (on the forge's delivery page, or on the wire) has it.
type capture struct {
	Secret string      `json:"secret"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

func readCapture(t *testing.T, name string) capture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "forge", "gitea", "testdata", "webhooks", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var c capture
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// intake is the webhook endpoint with the real Gitea adapter, the real
// flow's Accept and a real SQLite store; its clock stands still unless a
// test moves it.
type intake struct {
	url   string
	store store.Store
	jobs  *countingJobs
	now   atomic.Int64 // the limits' clock, Unix nanoseconds
}

func newIntake(t *testing.T, secret string) *intake {
	t.Helper()
	parser, err := gitea.New("http://gitea.invalid", "token")
	if err != nil {
		t.Fatal(err)
	}
	in := &intake{store: openStore(t), jobs: &countingJobs{}}
	in.now.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	log := slog.New(slog.DiscardHandler)
	s := &Server{
		Store: in.store, Log: log, Registry: prometheus.NewRegistry(),
		Flow:     &flow.Flow{Store: in.store, Jobs: in.jobs, Log: log},
		Ready:    func(context.Context) error { return nil },
		Webhooks: map[string]Webhook{"gitea": {Parser: parser, Secret: []byte(secret)}},
		clock:    func() time.Time { return time.Unix(0, in.now.Load()) },
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	in.url = ts.URL + "/webhooks/gitea"
	return in
}

// deliver posts body with the captured headers and the given delivery id
// (none when empty), and returns the status.
func (in *intake) deliver(t *testing.T, header http.Header, body, delivery string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.url, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header = header.Clone()
	for _, k := range []string{"X-Gitea-Delivery", "X-Github-Delivery", "X-Gogs-Delivery"} {
		req.Header.Del(k)
	}
	if delivery != "" {
		req.Header.Set("X-Gitea-Delivery", delivery)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReplaysAreOneEvent replays each of several captured, correctly
// signed Gitea deliveries 500 times, at once, under fresh delivery ids or
// none: a close, a reopen, a review, an edit, a draft change, a comment,
// a merge. Each is stored and queued once; every replay is answered as a
// duplicate, none is refused for the rate.
func TestReplaysAreOneEvent(t *testing.T) {
	const replays = 500
	for _, name := range []string{"pull_request_closed", "pull_request_reopened", "review_approved", "review_rejected",
		"pull_request_edited", "pull_request_draft", "pull_request_comment", "pull_request_merged"} {
		t.Run(name, func(t *testing.T) {
			c := readCapture(t, name)
			in := newIntake(t, c.Secret)
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				codes = map[int]int{}
				next  atomic.Int64
			)
			for range 16 {
				wg.Go(func() {
					for i := next.Add(1); i <= replays; i = next.Add(1) {
						delivery := fmt.Sprintf("replay-%d", i)
						if i%5 == 0 {
							delivery = "" // no delivery id at all
						}
						code := in.deliver(t, c.Header, c.Body, delivery)
						mu.Lock()
						codes[code]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if n := in.jobs.events.Load(); n != 1 {
				t.Errorf("%d replays made %d events to process, want 1", replays, n)
			}
			if codes[http.StatusAccepted] != replays {
				t.Errorf("answers %v, want %d × 202", codes, replays)
			}
		})
	}
}

// TestTransitionsMadeAgainAreNew: what a person legitimately does again
// is not taken for a replay. The second ready of a merge request at the
// same head (Gitea recorded both) is a new event, and so is a second
// `sluice plan` comment, which has its own id.
func TestTransitionsMadeAgainAreNew(t *testing.T) {
	ready, again := readCapture(t, "pull_request_ready"), readCapture(t, "pull_request_ready_again")
	in := newIntake(t, ready.Secret)
	for i, c := range []capture{ready, again, ready, again} {
		if code := in.deliver(t, c.Header, c.Body, fmt.Sprint("d", i)); code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	if n := in.jobs.events.Load(); n != 2 {
		t.Errorf("ready, ready again and their replays made %d events, want 2", n)
	}
	comment := readCapture(t, "pull_request_comment")
	for id := range 2 {
		h, body := resigned(t, comment, 2, int64(9000+id))
		if code := in.deliver(t, h, body, ""); code != http.StatusAccepted {
			t.Fatalf("comment %d: %d", id, code)
		}
	}
	if n := in.jobs.events.Load(); n != 4 {
		t.Errorf("two `sluice plan` comments made %d events in all, want 4", n-2)
	}
}

// TestDeliveryRate: new deliveries of one merge request past its bucket
// (20 at once, then one every 3 s) are answered 429 and not stored, while
// another merge request's go through; past the repository's bucket (200
// at once, then 5 a second) every merge request's are refused; time
// refills both.
func TestDeliveryRate(t *testing.T) {
	comment := readCapture(t, "pull_request_comment")
	in := newIntake(t, comment.Secret)
	id := int64(1000)
	send := func(mr int64) int {
		id++
		h, body := resigned(t, comment, mr, id)
		return in.deliver(t, h, body, fmt.Sprint("d", id))
	}
	count := func(mr int64, n int) (accepted, limited int) {
		for range n {
			switch code := send(mr); code {
			case http.StatusAccepted:
				accepted++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("merge request %d: %d", mr, code)
			}
		}
		return accepted, limited
	}
	if a, l := count(1, mrBurst+5); a != mrBurst || l != 5 {
		t.Fatalf("one merge request: %d accepted, %d refused; want %d and 5", a, l, mrBurst)
	}
	if n := in.jobs.events.Load(); n != mrBurst {
		t.Fatalf("%d events stored and queued, want %d: a refused delivery is not stored", n, mrBurst)
	}
	if a, _ := count(2, 1); a != 1 {
		t.Fatal("another merge request's delivery was refused")
	}
	// The repository's bucket: 200 in all, of which 21 are spent.
	left := repoBurst - mrBurst - 1
	for mr := int64(3); left > 0; mr++ {
		n := min(left, mrBurst)
		if a, l := count(mr, n); a != n || l != 0 {
			t.Fatalf("merge request %d: %d accepted, %d refused; want %d", mr, a, l, n)
		}
		left -= n
	}
	if _, l := count(999, 1); l != 1 {
		t.Fatal("a new merge request's delivery was accepted past the repository's bucket")
	}
	in.now.Add(int64(time.Second))
	if a, _ := count(998, 1); a != 1 {
		t.Fatal("a second later, the repository's bucket has not refilled")
	}
	in.now.Add(int64(3 * time.Second))
	if a, _ := count(1, 1); a != 1 {
		t.Fatal("3 s later, the merge request's bucket has not refilled")
	}
}

// resigned is a captured comment delivery made into another comment (id)
// on merge request mr, signed with the capture's secret: what Gitea would
// send for it.
func resigned(t *testing.T, c capture, mr, id int64) (http.Header, string) {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal([]byte(c.Body), &p); err != nil {
		t.Fatal(err)
	}
	p["comment"].(map[string]any)["id"] = id
	p["issue"].(map[string]any)["number"] = mr
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(c.Secret))
	mac.Write(b)
	h := c.Header.Clone()
	h.Del("X-Hub-Signature-256")
	h.Del("X-Hub-Signature")
	h.Del("X-Gogs-Signature")
	h.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	return h, string(b)
}
