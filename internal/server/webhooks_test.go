package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/store"
)

// fakeParser accepts deliveries signed with "good" and reports what the
// header X-Kind says.
type fakeParser struct{}

func (fakeParser) Parse(h http.Header, body []byte, secret []byte) (*forge.Event, error) {
	if h.Get("X-Signature") != string(secret) {
		return nil, forge.ErrBadSignature
	}
	switch h.Get("X-Kind") {
	case "push":
		return nil, forge.ErrIgnored
	case "comment":
		return &forge.Event{Kind: forge.EventComment, Action: "created", Repo: h.Get("X-Repo"), MR: 3, DeliveryID: "d-1",
			Actor: forge.User{Login: "bob"}, Comment: &forge.Comment{Body: string(body)}}, nil
	}
	return &forge.Event{Kind: forge.EventMR, Action: forge.ActionSynchronize, Repo: h.Get("X-Repo"), MR: 3, DeliveryID: "d-1",
		Actor: forge.User{Login: "alice"}, HeadSHA: strings.Repeat("a", 40)}, nil
}

type fakeFlow struct {
	mu       sync.Mutex
	accepted []flow.Request
}

func (f *fakeFlow) Accept(ctx context.Context, forgeName, deliveryID string, req flow.Request) (store.Event, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepted = append(f.accepted, req)
	return store.Event{ID: int64(len(f.accepted))}, true, nil
}

func (f *fakeFlow) ReleaseLock(ctx context.Context, actor string, k store.LockKey, reason string) (store.Lock, error) {
	return store.Lock{}, errors.New("not used")
}

func TestWebhook(t *testing.T) {
	ff := &fakeFlow{}
	s := &Server{
		Flow: ff, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Ready: func(context.Context) error { return nil },
		Webhooks: map[string]Webhook{"gitea": {
			Parser: fakeParser{}, Secret: []byte("good"),
			Allowed: func(repo string) bool { return repo == "org/infra" },
		}},
	}
	h := s.Handler()
	tests := []struct {
		name     string
		path     string
		header   map[string]string
		body     string
		code     int
		accepted int
		want     string
	}{
		{"good delivery", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Repo": "org/infra"}, "{}", 202, 1, `"event"`},
		{"bad signature", "/webhooks/gitea", map[string]string{"X-Signature": "bad", "X-Repo": "org/infra"}, "{}", 401, 0, "signature"},
		{"missing signature", "/webhooks/gitea", map[string]string{"X-Repo": "org/infra"}, "{}", 401, 0, "signature"},
		{"ignored event", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Kind": "push", "X-Repo": "org/infra"}, "{}", 200, 0, "ignored"},
		{"repository not allowed", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Repo": "evil/repo"}, "{}", 200, 0, "not configured"},
		{"comment that is no command", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Kind": "comment", "X-Repo": "org/infra"}, "looks good", 200, 0, "ignored"},
		{"command", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Kind": "comment", "X-Repo": "org/infra"}, "sluice apply -p prod", 202, 1, `"event"`},
		{"unknown forge", "/webhooks/bitbucket", map[string]string{"X-Signature": "good"}, "{}", 404, 0, "no forge"},
		{"too large", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Repo": "org/infra"}, strings.Repeat("x", MaxWebhookBody+1), 413, 0, "over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ff.accepted)
			req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%d %s, want %d with %q", rec.Code, rec.Body.String(), tt.code, tt.want)
			}
			if got := len(ff.accepted) - before; got != tt.accepted {
				t.Errorf("%d requests accepted, want %d", got, tt.accepted)
			}
			if strings.Contains(rec.Body.String(), "good") {
				t.Error("the answer echoes the secret")
			}
		})
	}
	last := ff.accepted[len(ff.accepted)-1]
	if last.Action != flow.ActionApply || last.Repo != "gitea:org/infra" || len(last.Projects) != 1 || last.Projects[0] != "prod" || !last.ByComment {
		t.Errorf("command request = %+v", last)
	}
}
