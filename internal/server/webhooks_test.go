package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlite"
)

// fakeParser accepts deliveries signed with "good" and reports what the
// header X-Kind says. One without X-Signature is refused unread, and an
// X-Kind of "label" is ignored unread.
type fakeParser struct{}

const fakeMaxBody = 1 << 20

func (fakeParser) Precheck(h http.Header, secret []byte) error {
	switch {
	case h.Get("X-Signature") == "":
		return forge.ErrBadSignature
	case h.Get("X-Kind") == "label":
		return forge.ErrIgnored
	}
	return nil
}

func (fakeParser) MaxBody() int64 { return fakeMaxBody }

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

func (f *fakeFlow) ReleaseLock(ctx context.Context, actor string, ref flow.LockRef, reason string) (store.Lock, error) {
	return store.Lock{}, errors.New("not used")
}

func TestWebhook(t *testing.T) {
	ff := &fakeFlow{}
	s := &Server{
		Store: openStore(t),
		Flow:  ff, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
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
		{"too large", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Repo": "org/infra"}, strings.Repeat("x", fakeMaxBody+1), 413, 0, "over"},
		{"too large, of unknown length", "/webhooks/gitea", map[string]string{"X-Signature": "good", "X-Repo": "org/infra", "Length": "unknown"},
			strings.Repeat("x", fakeMaxBody+1), 413, 0, "over"},
		{"ignored from its headers", "/webhooks/gitea", map[string]string{"X-Signature": "bad", "X-Kind": "label"}, "{}", 200, 0, "ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ff.accepted)
			body := &countingReader{r: strings.NewReader(tt.body)}
			req := httptest.NewRequest(http.MethodPost, tt.path, body)
			req.ContentLength = int64(len(tt.body))
			if tt.header["Length"] == "unknown" {
				req.ContentLength = -1
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%d %s, want %d with %q", rec.Code, rec.Body.String(), tt.code, tt.want)
			}
			// What the headers refuse, or what is too large by its
			// Content-Length, is answered without reading the body.
			unread := tt.header["X-Signature"] == "" || tt.header["X-Kind"] == "label" || tt.code == 413 && tt.header["Length"] == ""
			if unread && body.n > 0 {
				t.Errorf("%d bytes of the body read, want none", body.n)
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

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Headers are bounded far below Go's default of 1 MiB: a client that
// never authenticates cannot make each connection hold a megabyte.
func TestHTTPServerBoundsHeaders(t *testing.T) {
	s := &Server{Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Ready: func(context.Context) error { return nil }}
	hs := s.HTTPServer(nil)
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %s, read %s, idle %s; want all set", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.IdleTimeout)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = hs
	ts.Start()
	defer ts.Close()
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("x", 2*maxHeaderBytes))
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a request with %d KiB of headers: %s, want 431", 2*maxHeaderBytes>>10, resp.Status)
	}
}

// openStore opens a real store in a fresh SQLite file.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
