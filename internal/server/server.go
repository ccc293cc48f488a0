// Package server is Sluice's HTTP surface: health and readiness, metrics,
// and the JSON API the CLI's client commands use. Every route is in
// routes(); errors map to status codes in one place, writeError.
package server

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/store"
)

// Flow is what the server asks of the lifecycle.
type Flow interface {
	Accept(ctx context.Context, forge, deliveryID string, req flow.Request) (store.Event, bool, error)
	ReleaseLock(ctx context.Context, actor string, ref flow.LockRef, reason string) (store.Lock, error)
}

// Server serves HTTP.
type Server struct {
	Store    store.Store
	Flow     Flow
	Log      *slog.Logger
	APIToken string
	// Ready reports whether the server can take work (store reachable,
	// queue started).
	Ready func(ctx context.Context) error
	// Jobs counts the job queue's jobs still to do or running, up to
	// limit (queue.Queue.Unfinished), for GET /api/v1/queue.
	Jobs     func(ctx context.Context, limit int) (int, error)
	Registry *prometheus.Registry
	// Webhooks are the configured forges' endpoints, by forge name.
	Webhooks map[string]Webhook
	// WebhookMemory bounds the bytes of webhook bodies held at once
	// (DefaultWebhookMemory when 0); WebhookWait is how long a delivery
	// waits for room among them (DefaultWebhookWait when 0).
	WebhookMemory int64
	WebhookWait   time.Duration

	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	deliveries *prometheus.CounterVec // webhook deliveries by forge and outcome
	bodyBytes  prometheus.Gauge       // bytes of webhook bodies held
	bodies     *semaphore.Weighted    // room for webhook bodies, in bytes
	limits     limits                 // new deliveries per merge request and repository
	clock      func() time.Time       // the limits' clock; tests may set it
}

// maxAPIBody bounds an API request body.
const maxAPIBody = 1 << 20

// What one connection may make the server hold before it authenticates,
// besides a webhook's body (see DefaultWebhookMemory).
const (
	// maxConns bounds the connections served at once; past it, new ones
	// wait in the kernel's queue until one closes.
	maxConns = 1024
	// maxHeaderBytes bounds a request's headers (Go's default is 1 MiB);
	// a forge's or a client's take a few KiB.
	maxHeaderBytes = 64 << 10
)

// HTTPServer returns the http.Server that serves s.Handler(), with the
// limits that bound what clients that never authenticate can make it
// hold: headers of at most maxHeaderBytes, read within 10 s; a whole
// request within a minute (a webhook's body within webhookReadTimeout);
// idle connections closed after 30 s. Serve it on Listener(ln).
func (s *Server) HTTPServer(errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// Listener serves at most maxConns connections of ln at once.
func Listener(ln net.Listener) net.Listener { return netutil.LimitListener(ln, maxConns) }

// Handler returns the server's routes with metrics around them.
func (s *Server) Handler() http.Handler {
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sluice_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	s.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_webhook_deliveries_total", Help: "Webhook deliveries by forge and outcome (accepted, duplicate, ignored, bad_signature, ...).",
	}, []string{"forge", "outcome"})
	s.bodyBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sluice_webhook_body_bytes", Help: "Bytes of webhook bodies held (being read or parsed) now.",
	})
	s.bodies = s.newBodies()
	s.Registry.MustRegister(s.requests, s.duration, s.deliveries, s.bodyBytes)
	mux := http.NewServeMux()
	s.routes(mux)
	return mux
}

func (s *Server) routes(mux *http.ServeMux) {
	s.handle(mux, "GET /healthz", s.healthz)
	s.handle(mux, "GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))

	s.handle(mux, "POST /webhooks/{forge}", s.webhook)
	s.handle(mux, "POST /api/v1/events", s.auth(s.postEvent))
	s.handle(mux, "GET /api/v1/runs", s.auth(s.listRuns))
	s.handle(mux, "GET /api/v1/runs/{id}", s.auth(s.getRun))
	s.handle(mux, "GET /api/v1/runs/{id}/logs", s.auth(s.getLogs))
	s.handle(mux, "GET /api/v1/locks", s.auth(s.listLocks))
	s.handle(mux, "POST /api/v1/locks/release", s.auth(s.releaseLock))
	s.handle(mux, "GET /api/v1/audit", s.auth(s.listAudit))
	s.handle(mux, "GET /api/v1/audit/verify", s.auth(s.verifyAudit))
	s.handle(mux, "GET /api/v1/queue", s.auth(s.queueState))
}

// apiHandler returns a value to encode as JSON, or an error.
type apiHandler func(w http.ResponseWriter, r *http.Request) (any, error)

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) handle(mux *http.ServeMux, pattern string, h apiHandler) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		v, err := h(sw, r)
		switch {
		case err != nil:
			s.writeError(sw, r, err)
		case v != nil:
			sw.Header().Set("Content-Type", "application/json")
			if sw.code == http.StatusOK {
				sw.WriteHeader(http.StatusOK)
			}
			enc := json.NewEncoder(sw)
			enc.SetIndent("", "  ")
			_ = enc.Encode(v)
		}
		s.requests.WithLabelValues(pattern, strconv.Itoa(sw.code)).Inc()
		s.duration.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

// httpError is an error with the status it answers.
type httpError struct {
	code int
	msg  string
}

func (e httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// writeError maps error kinds to status codes, here and nowhere else.
func (s *Server) writeError(w *statusWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var he httpError
	switch {
	case errors.As(err, &he):
		code = he.code
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, flow.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		code = 499
	}
	msg := err.Error()
	if code == http.StatusInternalServerError {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; see the server log"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// auth requires the API token as a bearer token, compared in constant time.
func (s *Server) auth(h apiHandler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.APIToken == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.APIToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			return nil, errorf(http.StatusUnauthorized, "missing or wrong API token: pass it as 'Authorization: Bearer TOKEN' (sluice commands read --token, SLUICE_API_TOKEN, or the server's data dir)")
		}
		return h(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) (any, error) {
	return map[string]string{"status": "ok"}, nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "not ready: %v", err)
	}
	return map[string]string{"status": "ready"}, nil
}

func decode(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, maxAPIBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "request body over %d bytes", maxAPIBody)
		}
		return errorf(http.StatusBadRequest, "reading the JSON body: %v", err)
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return errorf(http.StatusBadRequest, "reading the JSON body: %v", err)
	}
	return nil
}

// postEvent accepts a request as an event: stored durably, then 202.
// The delivery id comes from the Idempotency-Key header; a retry with the
// same key is answered with the first event and changes nothing.
//
// For a repository on a forge, the request acts as flow.APIActor whatever
// actor it names, and is no comment: the API token is not a person, so it
// cannot lend a person's approval or rights to a request. The answer says
// whom the request acts as.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) (any, error) {
	var req flow.Request
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return nil, errorf(http.StatusBadRequest, "missing Idempotency-Key header: give each distinct request its own key, and a retry the same one")
	}
	as := flow.ActAsAPI(req)
	if as.Actor != req.Actor || as.ByComment != req.ByComment {
		s.Log.Info("an API request on a forge's repository acts as the API", "repo", req.Repo, "mr", req.MR, "action", req.Action,
			"actor_given", req.Actor, "by_comment_given", req.ByComment, "actor", as.Actor)
	}
	req = as
	ev, inserted, err := s.Flow.Accept(r.Context(), flow.APISource, key, req)
	if err != nil {
		return nil, err
	}
	w.WriteHeader(http.StatusAccepted)
	return map[string]any{"event": ev.ID, "duplicate": !inserted, "actor": req.Actor}, nil
}

func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "query parameter %s=%q is not a whole number ≥ 0", name, v)
	}
	return n, nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	f := store.RunFilter{Repo: q.Get("repo"), Project: q.Get("project"), State: store.RunState(q.Get("state")), Kind: store.RunKind(q.Get("kind"))}
	var err error
	if f.MR, err = queryInt(r, "mr"); err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return nil, err
	}
	f.Limit = int(min(limit, 1000))
	if f.BeforeID, err = queryInt(r, "before"); err != nil {
		return nil, err
	}
	runs, err := s.Store.ListRuns(r.Context(), f)
	if err != nil {
		return nil, err
	}
	if runs == nil {
		runs = []store.Run{}
	}
	return map[string]any{"runs": runs}, nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "run id %q is not a number", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	run, err := s.Store.GetRun(r.Context(), id)
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", id, err)
	}
	return run, nil
}

func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	after, err := queryInt(r, "after")
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.GetRun(r.Context(), id); err != nil {
		return nil, fmt.Errorf("run %d: %w", id, err)
	}
	lines, err := s.Store.Logs(r.Context(), id, after, 10000)
	if err != nil {
		return nil, err
	}
	if lines == nil {
		lines = []store.LogLine{}
	}
	return map[string]any{"lines": lines}, nil
}

func (s *Server) listLocks(w http.ResponseWriter, r *http.Request) (any, error) {
	locks, err := s.Store.ListLocks(r.Context(), r.URL.Query().Get("repo"))
	if err != nil {
		return nil, err
	}
	if locks == nil {
		locks = []store.Lock{}
	}
	return map[string]any{"locks": locks}, nil
}

// ReleaseRequest asks to release a lock by hand, named by the project's
// name as the lock shows it, or by its directory.
type ReleaseRequest struct {
	flow.LockRef
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

func (s *Server) releaseLock(w http.ResponseWriter, r *http.Request) (any, error) {
	var req ReleaseRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Repo == "" || req.Project == "" && req.Dir == "" || strings.TrimSpace(req.Reason) == "" || req.Actor == "" {
		return nil, errorf(http.StatusBadRequest, "repo, project (or dir), actor and reason are required: a released lock is audited with who and why")
	}
	if req.Workspace == "" {
		req.Workspace = "default"
	}
	l, err := s.Flow.ReleaseLock(r.Context(), req.Actor, req.LockRef, req.Reason)
	if err != nil {
		return nil, fmt.Errorf("lock of %s/%s (%s): %w", req.Repo, cmp.Or(req.Dir, req.Project), req.Workspace, err)
	}
	return map[string]any{"released": l}, nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) (any, error) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "since=%q: %v", v, err)
		}
		since = t
	}
	after, err := queryInt(r, "after")
	if err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return nil, err
	}
	if limit == 0 || limit > 5000 {
		limit = 5000
	}
	entries, err := s.Store.AuditEntries(r.Context(), after, since, int(limit))
	if err != nil {
		return nil, err
	}
	if entries == nil {
		entries = []store.AuditEntry{}
	}
	return map[string]any{"entries": entries}, nil
}

// parseTime accepts a date (2026-01-02) or an RFC 3339 time.
func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errors.New("not a date (2006-01-02) or an RFC 3339 time")
	}
	return t, nil
}

// queueCount bounds what GET /api/v1/queue counts of each kind of work.
const queueCount = 1000

// queueState says whether the server has work left: accepted events not
// yet processed (an event is processed once what it asks for is done or
// queued), and jobs still to do or running. Idle is neither: whatever the
// events accepted so far make the server do is done, apart from plans
// waiting for a project lock. Each is counted up to queueCount.
func (s *Server) queueState(w http.ResponseWriter, r *http.Request) (any, error) {
	// Every unprocessed event, whatever the clock of the replica that
	// received it.
	events, err := s.Store.PendingEvents(r.Context(), time.Now().AddDate(1, 0, 0), queueCount)
	if err != nil {
		return nil, err
	}
	jobs, err := s.Jobs(r.Context(), queueCount)
	if err != nil {
		return nil, err
	}
	return map[string]any{"idle": len(events) == 0 && jobs == 0, "unprocessed_events": len(events), "unfinished_jobs": jobs}, nil
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) (any, error) {
	return audit.Verify(r.Context(), s.Store, 1000)
}
