package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge"
)

// MaxWebhookBody is the largest webhook body accepted.
const MaxWebhookBody = 25 << 20

// Webhook is one forge's webhook endpoint configuration.
type Webhook struct {
	Parser forge.Webhooks
	Secret []byte
	// Allowed reports whether Sluice works on the repository (its path on
	// the forge); events of others are acknowledged and dropped.
	Allowed func(repo string) bool
}

// webhook verifies a delivery, stores what it asks for durably and answers
// 202 — no git or engine work happens here. A bad or missing signature is
// answered 401 and nothing is stored; a valid delivery Sluice ignores is
// answered 200.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("forge")
	hook, ok := s.Webhooks[name]
	if !ok {
		return nil, errorf(http.StatusNotFound, "no forge %q is configured on this server", name)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.countDelivery(name, "too_large")
			return nil, errorf(http.StatusRequestEntityTooLarge, "webhook body over %d bytes", MaxWebhookBody)
		}
		return nil, errorf(http.StatusBadRequest, "reading the webhook body: %v", err)
	}
	ev, err := hook.Parser.Parse(r.Header, body, hook.Secret)
	switch {
	case errors.Is(err, forge.ErrBadSignature):
		s.countDelivery(name, "bad_signature")
		s.Log.Warn("webhook refused: bad or missing signature", "forge", name, "remote", r.RemoteAddr)
		return nil, errorf(http.StatusUnauthorized, "webhook signature missing or wrong")
	case errors.Is(err, forge.ErrIgnored):
		s.countDelivery(name, "ignored")
		return map[string]string{"status": "ignored", "reason": err.Error()}, nil
	case err != nil:
		s.countDelivery(name, "invalid")
		return nil, errorf(http.StatusBadRequest, "reading the webhook: %v", err)
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
	// Once verified, the delivery is stored even if the forge hangs up:
	// it may retry, and the retry is then a duplicate, not a loss.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
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

func (s *Server) countDelivery(forgeName, outcome string) {
	s.deliveries.WithLabelValues(forgeName, outcome).Inc()
}
