package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/store"
)

// What a delivery may make the server hold before anyone knows who sent
// it. Its signature covers its body, so the body must be read first;
// these bound how much of that memory is held at once, and for how long.
const (
	// DefaultWebhookMemory bounds the bytes of webhook bodies held at once,
	// being read or parsed, whatever the number of connections: room for
	// two deliveries of the largest size a forge sends, and for thousands
	// of ordinary ones (a few KiB to a few hundred).
	DefaultWebhookMemory = 64 << 20
	// DefaultWebhookWait is how long a delivery waits for that room before
	// it is answered 503.
	DefaultWebhookWait = 5 * time.Second
	// webhookReadTimeout is how long a delivery's body may take to arrive.
	// The forges give up on a delivery not answered within 5 (Gitea) or
	// 10 seconds (GitHub, GitLab.com): a slower body is an attacker's.
	webhookReadTimeout = 20 * time.Second
)

// Webhook is one forge's webhook endpoint configuration.
type Webhook struct {
	Parser forge.Webhooks
	Secret []byte
	// Allowed reports whether Sluice works on the repository (its path on
	// the forge); events of others are acknowledged and dropped.
	Allowed func(repo string) bool
}

// webhook verifies a delivery, stores what it asks for durably and answers
// 202 — no git or engine work happens here. A delivery without the forge's
// signature or token (or, on GitLab, with the wrong token) is answered 401
// before its body is read, and so is one whose body does not match its
// signature, once read; nothing is stored. A valid delivery Sluice ignores
// is answered 200; an event Sluice never acts on is answered so from its
// headers, unread. A duplicate (flow.Request.SemanticKey) is answered 202
// as such; a new delivery past its merge request's or repository's rate
// (limits) is answered 429 and not stored.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("forge")
	hook, ok := s.Webhooks[name]
	if !ok {
		return nil, errorf(http.StatusNotFound, "no forge %q is configured on this server", name)
	}
	if err := hook.Parser.Precheck(r.Header, hook.Secret); err != nil {
		return s.unparsed(name, r, err)
	}
	body, release, err := s.readBody(w, r, name, hook.Parser.MaxBody())
	if err != nil {
		return nil, err
	}
	ev, err := hook.Parser.Parse(r.Header, body, hook.Secret)
	digest := sha256.Sum256(body)
	body = nil
	release() // the event holds what it needs of the body
	if err != nil {
		return s.unparsed(name, r, err)
	}
	if hook.Allowed != nil && !hook.Allowed(ev.Repo) {
		s.countDelivery(name, "not_allowed")
		s.Log.Info("webhook ignored: repository not in the allow-list", "forge", name, "repo", ev.Repo)
		return map[string]string{"status": "ignored", "reason": "repository " + ev.Repo + " is not configured on this server"}, nil
	}
	req, err := flow.RequestFromEvent(name, ev)
	if errors.Is(err, forge.ErrIgnored) {
		s.countDelivery(name, "ignored")
		return map[string]string{"status": "ignored", "reason": err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	req.Digest = hex.EncodeToString(digest[:])
	// Once verified, the delivery is stored even if the forge hangs up:
	// it may retry, and the retry is then a duplicate, not a loss.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	// A duplicate is answered before the rate is counted: replaying one
	// captured delivery must not use up its merge request's deliveries.
	if dup, err := s.Store.FindEvent(ctx, name, ev.DeliveryID, req.SemanticKey(name)); err == nil {
		s.countDelivery(name, "duplicate")
		w.WriteHeader(http.StatusAccepted)
		return map[string]any{"event": dup.ID, "duplicate": true}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if !s.limits.allow(req.Repo, req.MR, s.now()) {
		s.countDelivery(name, "rate_limited")
		s.Log.Warn("webhook refused: too many deliveries for the merge request or its repository", "forge", name, "repo", req.Repo, "mr", req.MR, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "60")
		return nil, errorf(http.StatusTooManyRequests, "too many deliveries for %s merge request %d or its repository; nothing was stored: redeliver it later", req.Repo, req.MR)
	}
	stored, inserted, err := s.Flow.Accept(ctx, name, ev.DeliveryID, req)
	if err != nil {
		return nil, err
	}
	outcome := "duplicate"
	if inserted {
		outcome = "accepted"
	}
	s.countDelivery(name, outcome)
	w.WriteHeader(http.StatusAccepted)
	return map[string]any{"event": stored.ID, "duplicate": !inserted}, nil
}

// unparsed answers a delivery the forge adapter refused or ignored, from
// its headers (Precheck) or its body (Parse).
func (s *Server) unparsed(name string, r *http.Request, err error) (any, error) {
	switch {
	case errors.Is(err, forge.ErrBadSignature):
		s.countDelivery(name, "bad_signature")
		s.Log.Warn("webhook refused: bad or missing signature", "forge", name, "remote", r.RemoteAddr)
		return nil, errorf(http.StatusUnauthorized, "webhook signature missing or wrong")
	case errors.Is(err, forge.ErrIgnored):
		s.countDelivery(name, "ignored")
		return map[string]string{"status": "ignored", "reason": err.Error()}, nil
	}
	s.countDelivery(name, "invalid")
	return nil, errorf(http.StatusBadRequest, "reading the webhook: %v", err)
}

// readBody reads a delivery's body of at most max bytes, once there is
// room for it among the bodies held (s.bodies): its Content-Length, or
// max when it gives none. release gives the room back; call it once the
// body is no longer needed.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, name string, max int64) (body []byte, release func(), err error) {
	if r.ContentLength > max {
		s.countDelivery(name, "too_large")
		return nil, nil, errorf(http.StatusRequestEntityTooLarge, "webhook body of %d bytes is over %d", r.ContentLength, max)
	}
	n := r.ContentLength
	if n < 0 {
		n = max
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.webhookWait())
	defer cancel()
	if err := s.bodies.Acquire(ctx, n); err != nil {
		s.countDelivery(name, "busy")
		s.Log.Warn("webhook refused: too many webhook bodies being read at once", "forge", name, "remote", r.RemoteAddr, "bytes", n)
		w.Header().Set("Retry-After", strconv.Itoa(int(s.webhookWait().Seconds())+1))
		return nil, nil, errorf(http.StatusServiceUnavailable, "too many webhook deliveries are being read at once; redeliver this one later")
	}
	s.bodyBytes.Add(float64(n))
	release = func() {
		s.bodyBytes.Sub(float64(n))
		s.bodies.Release(n)
	}
	// A slow body must not hold its room for the server's ReadTimeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(webhookReadTimeout))
	body, err = readAll(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
	if err == nil {
		return body, release, nil
	}
	release()
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		s.countDelivery(name, "too_large")
		return nil, nil, errorf(http.StatusRequestEntityTooLarge, "webhook body over %d bytes", max)
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.countDelivery(name, "timeout")
		return nil, nil, errorf(http.StatusRequestTimeout, "the webhook body took over %s to arrive", webhookReadTimeout)
	}
	return nil, nil, errorf(http.StatusBadRequest, "reading the webhook body: %v", err)
}

// readAll reads r: into one buffer of exactly n bytes when the length is
// known (n ≥ 0), so that what is held is what was accounted for.
func readAll(r io.Reader, n int64) ([]byte, error) {
	if n < 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func (s *Server) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

func (s *Server) webhookWait() time.Duration {
	if s.WebhookWait > 0 {
		return s.WebhookWait
	}
	return DefaultWebhookWait
}

// newBodies makes the semaphore of the webhook bodies held at once: the
// server's WebhookMemory, and at least room for the largest delivery.
func (s *Server) newBodies() *semaphore.Weighted {
	room := s.WebhookMemory
	if room <= 0 {
		room = DefaultWebhookMemory
	}
	for _, h := range s.Webhooks {
		room = max(room, h.Parser.MaxBody())
	}
	return semaphore.NewWeighted(room)
}

func (s *Server) countDelivery(forgeName, outcome string) {
	s.deliveries.WithLabelValues(forgeName, outcome).Inc()
}
