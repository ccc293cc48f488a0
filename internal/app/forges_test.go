package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/workspace"
)

// TestGitHubAppSources: with GitHub App settings the server builds a
// client acting as the App, and git gets a token of the installation
// serving the repository, minted once.
func TestGitHubAppSources(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var lookups, mints atomic.Int32
	jwt := func(r *http.Request) bool {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && strings.Count(tok, ".") == 2 && strings.HasPrefix(tok, "eyJ")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/installation", func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		switch {
		case !jwt(r):
			w.WriteHeader(http.StatusUnauthorized)
		case r.PathValue("owner") != "octocat":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Not Found"}`))
		default:
			_, _ = w.Write([]byte(`{"id": 7, "app_id": 1}`))
		}
	})
	mux.HandleFunc("POST /api/v3/app/installations/7/access_tokens", func(w http.ResponseWriter, r *http.Request) {
		if !jwt(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mints.Add(1)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": "ghs_app-token", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	cfg := &config.Config{}
	cfg.GitHubURL = srv.URL + "/api/v3/"
	cfg.GitHubAppID = "1"
	cfg.GitHubAppPrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	cfg.ForgeRepos = []string{"github:octocat/Hello-World", "github:monalisa/infra"}
	clients, err := forges(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if clients["github"] == nil {
		t.Fatalf("no GitHub client for an App: %v", clients)
	}
	src := sources(cfg, clients)
	want := workspace.Source{Repo: "github:octocat/Hello-World", CloneURL: srv.URL + "/octocat/Hello-World.git", Username: "x-access-token", Token: "ghs_app-token"}
	for range 2 {
		got, err := src(context.Background(), "github:octocat/Hello-World")
		if err != nil || got != want {
			t.Errorf("source = %+v, %v; want %+v", got, err, want)
		}
	}
	if lookups.Load() != 1 || mints.Load() != 1 {
		t.Errorf("%d installation lookups and %d tokens minted, want 1 and 1", lookups.Load(), mints.Load())
	}
	_, err = src(context.Background(), "github:monalisa/infra")
	if !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "credentials to clone github:monalisa/infra") ||
		!strings.Contains(err.Error(), "not installed") {
		t.Errorf("a repository without the App: err = %v", err)
	}

	// With a token, the token as it is.
	cfg = &config.Config{}
	cfg.GitHubURL, cfg.GitHubToken, cfg.ForgeRepos = srv.URL+"/api/v3/", "ghp_fixed-token", []string{"github:octocat/Hello-World"}
	if clients, err = forges(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	got, err := sources(cfg, clients)(context.Background(), "github:octocat/Hello-World")
	if err != nil || got.Token != "ghp_fixed-token" || got.Username != "x-access-token" {
		t.Errorf("token source = %+v, %v", got, err)
	}

	// A key that is not one stops the server at start, without quoting it.
	cfg = &config.Config{}
	cfg.GitHubAppID, cfg.GitHubAppPrivateKey = "1", "MIIEsecret"
	if _, err := forges(cfg, slog.New(slog.DiscardHandler)); err == nil || strings.Contains(err.Error(), "MIIEsecret") {
		t.Errorf("bad key: err = %v", err)
	}
}
