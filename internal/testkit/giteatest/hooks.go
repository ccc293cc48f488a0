package giteatest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Delivery is one webhook request as Gitea sent it.
type Delivery struct {
	Header http.Header
	Body   []byte
}

// Event is the delivery's specific event type: X-Gitea-Event-Type
// ("pull_request", "pull_request_sync", "pull_request_comment",
// "pull_request_review_approved", "push", ...).
func (d Delivery) Event() string { return d.Header.Get("X-Gitea-Event-Type") }

// Recorder is an HTTP server in the test that records the webhooks a
// repository sends it.
type Recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []Delivery
	notify chan struct{}
}

// RecordWebhooks starts a Recorder, stopped when the test ends, and adds a
// webhook for the events to repo that sends to it, signed with secret.
func (s *Server) RecordWebhooks(t testing.TB, repo, secret string, events ...string) *Recorder {
	t.Helper()
	r := &Recorder{notify: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, Delivery{Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	s.CreateWebhook(t, repo, r.srv.URL+"/webhooks/gitea", secret, events...)
	return r
}

// Take waits up to 10 s for a delivery of the event type (see
// [Delivery.Event]) and removes the first one from the record.
func (r *Recorder) Take(t testing.TB, event string) Delivery {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for i, d := range r.got {
			if d.Event() == event {
				r.got = append(r.got[:i], r.got[i+1:]...)
				r.mu.Unlock()
				return d
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s webhook delivered within 10 s (recorded: %v)", event, r.events())
		}
	}
}

// All returns the deliveries recorded and not taken, oldest first, and
// forgets them.
func (r *Recorder) All() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func (r *Recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var es []string
	for _, d := range r.got {
		es = append(es, d.Event())
	}
	return es
}
