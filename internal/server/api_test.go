package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/store"
)

// sourceFlow records what Accept was given, the source included.
type sourceFlow struct {
	source string
	req    flow.Request
}

func (f *sourceFlow) Accept(_ context.Context, source, _ string, req flow.Request) (store.Event, bool, error) {
	f.source, f.req = source, req
	return store.Event{ID: 1}, true, nil
}

func (f *sourceFlow) ReleaseLock(context.Context, string, flow.LockRef, string) (store.Lock, error) {
	return store.Lock{}, errors.New("not used")
}

// TestAPIEventActor: a request of the JSON API for a repository on a forge
// acts as flow.APIActor and is no comment, whatever its body says: the API
// token is not a person, so it cannot lend a person's approval, merge
// rights or comment to a request. A plain git repository's request keeps
// its actor.
func TestAPIEventActor(t *testing.T) {
	const token = "0123456789abcdef-token"
	tests := []struct {
		name      string
		body      string
		wantActor string
	}{
		{"apply on a forge as bob", `{"action":"apply","repo":"gitea:org/infra","mr":3,"actor":"bob"}`, flow.APIActor},
		{"close merged on a forge", `{"action":"close","repo":"github:org/infra","mr":3,"actor":"carol","merged":true}`, flow.APIActor},
		{"a comment claimed on a forge", `{"action":"plan","repo":"gitlab:group/infra","mr":3,"actor":"bob","by_comment":true,"comment_id":42}`, flow.APIActor},
		{"no actor on a forge", `{"action":"unlock","repo":"gitea:org/infra","mr":3,"reason":"stuck"}`, flow.APIActor},
		{"plain git repository", `{"action":"apply","repo":"infra","mr":3,"actor":"bob"}`, "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := &sourceFlow{}
			s := &Server{Flow: ff, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), APIToken: token,
				Ready: func(context.Context) error { return nil }}
			req := httptest.NewRequest(http.MethodPost, "/api/v1/events", strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Idempotency-Key", "k-1")
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted {
				t.Fatalf("%d %s, want 202", rec.Code, rec.Body)
			}
			if ff.source != flow.APISource {
				t.Errorf("accepted from %q, want %q", ff.source, flow.APISource)
			}
			if ff.req.Actor != tt.wantActor || ff.req.ByComment || ff.req.CommentID != 0 {
				t.Errorf("accepted %+v, want actor %q and no comment", ff.req, tt.wantActor)
			}
			var answer struct {
				Event int64  `json:"event"`
				Actor string `json:"actor"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Event != 1 || answer.Actor != tt.wantActor {
				t.Errorf("answer %s (%v), want event 1 acting as %q", rec.Body, err, tt.wantActor)
			}
		})
	}
}

// TestAPIRunSummaryIsJSON: a run's summary is shown as the JSON it is, not
// as base64 of it.
func TestAPIRunSummaryIsJSON(t *testing.T) {
	const token = "0123456789abcdef-token"
	st := openStore(t)
	r, err := st.CreateRun(context.Background(), store.Run{Kind: store.KindPlan, Repo: "infra", MR: 1, Project: "app", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartRun(context.Background(), r.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishRun(context.Background(), r.ID, store.StateSucceeded, "", []byte(`{"plan_id":3,"changes":true}`)); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Flow: &sourceFlow{}, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), APIToken: token,
		Ready: func(context.Context) error { return nil }}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/runs/"+strconv.FormatInt(r.ID, 10), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var got struct {
		Summary map[string]any `json:"summary"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Summary["plan_id"] != float64(3) {
		t.Errorf("run %s: summary %v (%v), want the JSON object", rec.Body, got.Summary, err)
	}
}

// TestAPIQueue: the queue's state is idle only when every accepted event
// is processed and no job is left to do, and is behind the API token.
func TestAPIQueue(t *testing.T) {
	const token = "0123456789abcdef-token"
	st := openStore(t)
	ctx := context.Background()
	ev, _, err := st.InsertEvent(ctx, store.Event{Forge: "gitea", DeliveryID: "d-1", SemanticKey: "k-1", Kind: "plan", Payload: []byte(`{}`), ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// Received by a replica whose clock is ahead.
	ahead, _, err := st.InsertEvent(ctx, store.Event{Forge: "gitea", DeliveryID: "d-2", SemanticKey: "k-2", Kind: "plan", Payload: []byte(`{}`), ReceivedAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	jobs := 0
	s := &Server{Store: st, Flow: &sourceFlow{}, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), APIToken: token,
		Ready: func(context.Context) error { return nil },
		Jobs:  func(context.Context, int) (int, error) { return jobs, nil }}
	h := s.Handler()
	get := func(auth string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/queue", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.Join(strings.Fields(rec.Body.String()), " ")
	}
	for _, auth := range []string{"", "wrong-token"} {
		if code, body := get(auth); code != http.StatusUnauthorized {
			t.Errorf("token %q: %d %s, want 401", auth, code, body)
		}
	}
	check := func(want string) {
		t.Helper()
		if code, body := get(token); code != http.StatusOK || body != want {
			t.Errorf("%d %s, want 200 %s", code, body, want)
		}
	}
	check(`{ "idle": false, "unfinished_jobs": 0, "unprocessed_events": 2 }`)
	for _, id := range []int64{ev.ID, ahead.ID} {
		if err := st.MarkEventProcessed(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	jobs = 2
	check(`{ "idle": false, "unfinished_jobs": 2, "unprocessed_events": 0 }`)
	jobs = 0
	check(`{ "idle": true, "unfinished_jobs": 0, "unprocessed_events": 0 }`)
}
