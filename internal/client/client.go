// Package client is the Go client of Sluice's JSON API, used by the CLI's
// runs, locks and audit commands.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/store"
)

// Client talks to one Sluice server.
type Client struct {
	URL   string // e.g. http://127.0.0.1:8080
	Token string
	HTTP  *http.Client
}

// Error is an error answer of the server.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("server answered %d: %s", e.Status, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, header map[string]string, out any) error {
	u := strings.TrimRight(c.URL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("bad server URL %q: %w", c.URL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the sluice server at %s (is `sluice serve` running? set --server or SLUICE_SERVER): %w", c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	return nil
}

// ListRuns lists runs, newest first.
func (c *Client) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("repo", f.Repo)
	set("project", f.Project)
	set("state", string(f.State))
	set("kind", string(f.Kind))
	if f.MR > 0 {
		q.Set("mr", strconv.FormatInt(f.MR, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.BeforeID > 0 {
		q.Set("before", strconv.FormatInt(f.BeforeID, 10))
	}
	var out struct {
		Runs []store.Run `json:"runs"`
	}
	return out.Runs, c.do(ctx, http.MethodGet, "/api/v1/runs", q, nil, nil, &out)
}

// GetRun returns one run.
func (c *Client) GetRun(ctx context.Context, id int64) (store.Run, error) {
	var r store.Run
	return r, c.do(ctx, http.MethodGet, "/api/v1/runs/"+strconv.FormatInt(id, 10), nil, nil, nil, &r)
}

// Logs returns a run's output lines after a sequence number.
func (c *Client) Logs(ctx context.Context, id, after int64) ([]store.LogLine, error) {
	var out struct {
		Lines []store.LogLine `json:"lines"`
	}
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	return out.Lines, c.do(ctx, http.MethodGet, "/api/v1/runs/"+strconv.FormatInt(id, 10)+"/logs", q, nil, nil, &out)
}

// ListLocks lists held locks and their queues.
func (c *Client) ListLocks(ctx context.Context, repo string) ([]store.Lock, error) {
	q := url.Values{}
	if repo != "" {
		q.Set("repo", repo)
	}
	var out struct {
		Locks []store.Lock `json:"locks"`
	}
	return out.Locks, c.do(ctx, http.MethodGet, "/api/v1/locks", q, nil, nil, &out)
}

// LockRef names a lock to release: by the project's name as the lock
// shows it, or by its directory.
type LockRef = flow.LockRef

// ReleaseLock releases a lock by hand, audited with actor and reason.
func (c *Client) ReleaseLock(ctx context.Context, ref LockRef, actor, reason string) (store.Lock, error) {
	body := map[string]string{"repo": ref.Repo, "project": ref.Project, "dir": ref.Dir, "workspace": ref.Workspace, "actor": actor, "reason": reason}
	var out struct {
		Released store.Lock `json:"released"`
	}
	return out.Released, c.do(ctx, http.MethodPost, "/api/v1/locks/release", nil, body, nil, &out)
}

// Audit returns audit entries after a sequence number, since a time.
func (c *Client) Audit(ctx context.Context, after int64, since time.Time, limit int) ([]store.AuditEntry, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(limit)}}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	var out struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	return out.Entries, c.do(ctx, http.MethodGet, "/api/v1/audit", q, nil, nil, &out)
}

// VerifyAudit asks the server to verify the audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (audit.Report, error) {
	var r audit.Report
	return r, c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil, nil, &r)
}

// PostEvent submits a request; key makes retries safe.
func (c *Client) PostEvent(ctx context.Context, key string, req flow.Request) (eventID int64, duplicate bool, err error) {
	var out struct {
		Event     int64 `json:"event"`
		Duplicate bool  `json:"duplicate"`
	}
	err = c.do(ctx, http.MethodPost, "/api/v1/events", nil, req, map[string]string{"Idempotency-Key": key}, &out)
	return out.Event, out.Duplicate, err
}

// QueueState is whether the server has work left (GET /api/v1/queue).
type QueueState struct {
	// Idle: every accepted event is processed and no job is left to do,
	// apart from plans waiting for a project lock.
	Idle              bool `json:"idle"`
	UnprocessedEvents int  `json:"unprocessed_events"`
	UnfinishedJobs    int  `json:"unfinished_jobs"`
}

// Queue says whether the server has work left.
func (c *Client) Queue(ctx context.Context) (QueueState, error) {
	var q QueueState
	return q, c.do(ctx, http.MethodGet, "/api/v1/queue", nil, nil, nil, &q)
}
