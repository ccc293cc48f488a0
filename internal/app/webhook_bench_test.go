package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge/gitea"
	"github.com/sluicehq/sluice/internal/queue"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/postgres"
	"github.com/sluicehq/sluice/internal/store/sqlite"
	"github.com/sluicehq/sluice/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// recorded is a real Gitea delivery, recorded by the Gitea adapter's tests.
type recorded struct {
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

var shaInBody = regexp.MustCompile(`"sha": "[0-9a-f]{40}"`)

type nopHandler struct{}

func (nopHandler) HandleEvent(context.Context, int64) error { return nil }
func (nopHandler) HandlePlan(context.Context, int64) error  { return nil }
func (nopHandler) HandleApply(context.Context, int64) error { return nil }

// BenchmarkWebhookAck sends signed Gitea deliveries at 200 per second to
// the real webhook endpoint — signature check, durable event, queued job —
// on SQLite and on PostgreSQL, and reports the latency of the 202. The
// target is a p99 under 100 ms.
func BenchmarkWebhookAck(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "forge", "gitea", "testdata", "webhooks", "pull_request_synchronized.json"))
	if err != nil {
		b.Fatal(err)
	}
	var rec recorded
	if err := json.Unmarshal(raw, &rec); err != nil {
		b.Fatal(err)
	}
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) { benchAck(b, db, rec) })
	}
}

func benchAck(b *testing.B, db string, rec recorded) {
	ctx := context.Background()
	var (
		st store.Store
		q  *queue.Queue
	)
	switch db {
	case "sqlite":
		path := filepath.Join(b.TempDir(), "sluice.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		st = s
		qdb, err := sqlite.OpenDB(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer qdb.Close()
		qdb.SetMaxOpenConns(1)
		if q, err = queue.NewSQLite(ctx, qdb, nopHandler{}, queue.Options{}); err != nil {
			b.Fatal(err)
		}
	default:
		pool, err := pgxpool.New(ctx, pgtest.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		s, err := postgres.New(ctx, pool)
		if err != nil {
			b.Fatal(err)
		}
		st = s
		if q, err = queue.NewPostgres(ctx, pool, nopHandler{}, queue.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	parser, err := gitea.New("http://gitea.invalid", "token")
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte("bench-webhook-secret")
	fl := &flow.Flow{Store: st, Jobs: &jobAdapter{q: q}, Log: slog.New(slog.DiscardHandler)}
	srv := &server.Server{
		Store: st, Flow: fl, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Ready:    func(context.Context) error { return nil },
		Webhooks: map[string]server.Webhook{"gitea": {Parser: parser, Secret: secret, Allowed: func(string) bool { return true }}},
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	const rate = 200
	deliveries := max(b.N, 1) * rate * 3 // three seconds of load per iteration
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		wg        sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < deliveries; i++ {
		<-tick.C
		body := []byte(shaInBody.ReplaceAllStringFunc(rec.Body, func(string) string { return `"sha": "` + randomHex(20) + `"` }))
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		sig := hex.EncodeToString(mac.Sum(nil))
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/webhooks/gitea", bytes.NewReader(body))
			for k, v := range rec.Header {
				req.Header[k] = slices.Clone(v)
			}
			id := randomHex(16)
			req.Header.Set("X-Gitea-Delivery", id)
			req.Header.Set("X-GitHub-Delivery", id)
			req.Header.Set("X-Gitea-Signature", sig)
			req.Header.Set("X-Hub-Signature-256", "sha256="+sig)
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || resp.StatusCode != http.StatusAccepted {
				failures++
				if resp != nil {
					resp.Body.Close()
				}
				return
			}
			resp.Body.Close()
			latencies = append(latencies, took)
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failures > 0 || len(latencies) == 0 {
		b.Fatalf("%d of %d deliveries failed", failures, deliveries)
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(float64(len(latencies)-1)*p)] }
	b.ReportMetric(float64(pct(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
	fmt.Printf("webhook ack on %s at %d/s, %d deliveries: p50 %v, p99 %v, max %v (target p99 < 100ms)\n",
		db, rate, len(latencies), pct(0.5), pct(0.99), latencies[len(latencies)-1])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
