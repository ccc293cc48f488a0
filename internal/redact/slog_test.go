package redact

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestHandlerHidesSecretsInLogLines(t *testing.T) {
	const secret = "gitea-token-5f0c2e9a"
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil), New([]string{secret}, nil)))
	log.With("token", secret).WithGroup("req").Warn("failed with "+secret,
		"err", fmt.Errorf("git: %w", errors.New("Authorization: token "+secret)),
		"url", "https://x:"+secret+"@gitea.example",
		slog.Group("inner", "value", []string{"a", secret}),
		"n", 3)
	out := buf.String()
	if strings.Contains(out, secret) {
		t.Fatalf("the log line holds the secret:\n%s", out)
	}
	if strings.Count(out, Mask) != 5 || !strings.Contains(out, `"n":3`) {
		t.Errorf("the log line lost more than the secret:\n%s", out)
	}
}
