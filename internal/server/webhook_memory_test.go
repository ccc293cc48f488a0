package server

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/gitea"
	"github.com/sluicehq/sluice/internal/forge/github"
	"github.com/sluicehq/sluice/internal/forge/gitlab"
)

// TestUnauthenticatedWebhookMemory is the attack of 40 connections each
// sending a 25 MiB body that nobody signed, or signed wrongly, or (GitLab)
// with a wrong token, to the real forge adapters behind the real HTTP
// server, all of them holding their bodies unfinished at once. The heap
// the server holds meanwhile grows by at most its webhook budget (plus
// slack for the rest of the process), none of it is accepted, and a
// correctly signed delivery is accepted once they are gone.
func TestUnauthenticatedWebhookMemory(t *testing.T) {
	secret := []byte("memory-test-webhook-secret")
	gt, err := gitea.New("http://gitea.invalid", "token")
	if err != nil {
		t.Fatal(err)
	}
	gh, err := github.New("", "token")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := gitlab.New("https://gitlab.invalid", "token")
	if err != nil {
		t.Fatal(err)
	}
	ff := &fakeFlow{}
	s := &Server{
		Store: openStore(t),
		Flow:  ff, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Ready: func(context.Context) error { return nil },
		Webhooks: map[string]Webhook{
			"gitea":  {Parser: gt, Secret: secret},
			"github": {Parser: gh, Secret: secret},
			"gitlab": {Parser: gl, Secret: secret},
		},
		WebhookWait: time.Second, // the deliveries that find no room give up sooner
	}
	hs := s.HTTPServer(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(Listener(ln)) }()
	t.Cleanup(func() { hs.Close() })

	zeros := strings.Repeat("0", 64)
	attacks := []struct {
		path   string
		header map[string]string
	}{
		{"/webhooks/gitea", map[string]string{"X-Gitea-Event-Type": "pull_request"}},                                           // unsigned
		{"/webhooks/gitea", map[string]string{"X-Gitea-Event-Type": "pull_request", "X-Gitea-Signature": zeros}},               // wrongly signed
		{"/webhooks/github", map[string]string{"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": "sha256=" + zeros}},    // wrongly signed
		{"/webhooks/gitlab", map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": "guessed-the-token"}}, // wrong token
	}
	const conns, size = 40, forge.MaxWebhookBody

	runtime.GC()
	before := heap()
	var (
		holding sync.WaitGroup // every connection has sent all but its last byte, or was cut off
		done    sync.WaitGroup
		mu      sync.Mutex
		answers = map[string]int{}
	)
	finish := make(chan struct{})
	holding.Add(conns)
	done.Add(conns)
	for i := range conns {
		a := attacks[i%len(attacks)]
		go func() {
			defer done.Done()
			status := attack(ln.Addr().String(), a.path, a.header, size, holding.Done, finish)
			mu.Lock()
			answers[status]++
			mu.Unlock()
		}()
	}
	holding.Wait()
	runtime.GC()
	held := heap() - before
	close(finish)
	done.Wait()

	t.Logf("heap grew by %d MiB with %d connections holding %d MiB bodies; answers %v", held>>20, conns, size>>20, answers)
	if bound := uint64(DefaultWebhookMemory + 32<<20); held > bound {
		t.Errorf("the heap grew by %d MiB while unauthenticated bodies were held, want at most %d MiB", held>>20, bound>>20)
	}
	if len(ff.accepted) != 0 {
		t.Errorf("%d unauthenticated deliveries were accepted", len(ff.accepted))
	}
	for status := range answers {
		if strings.HasPrefix(status, "2") {
			t.Errorf("an unauthenticated delivery was answered %s", status)
		}
	}

	// The room they held is free again: a signed delivery goes through.
	code, body := signedGitea(t, ln.Addr().String(), secret)
	if code != http.StatusAccepted || len(ff.accepted) != 1 {
		t.Errorf("a signed delivery after the attack: %d %s, %d accepted", code, body, len(ff.accepted))
	}
}

// heap is the bytes of live heap objects, right after a collection.
func heap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// attack sends a POST of size bytes to path: headers, then all but the
// last byte of the body, then calls holding (also when the server cut the
// connection off first) and waits for finish before the last byte. It
// returns the status the server answered, or what went wrong.
func attack(addr, path string, header map[string]string, size int, holding func(), finish <-chan struct{}) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		holding()
		return "dial: " + err.Error()
	}
	defer conn.Close()
	var req strings.Builder
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: sluice\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, size)
	for k, v := range header {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	chunk := make([]byte, 256<<10)
	held := false
	hold := func() {
		if !held {
			held = true
			holding()
		}
	}
	defer hold()
	_, err = conn.Write([]byte(req.String()))
	for left := size - 1; err == nil && left > 0; {
		n := min(left, len(chunk))
		n, err = conn.Write(chunk[:n])
		left -= n
	}
	hold()
	if err == nil {
		<-finish
		_, err = conn.Write([]byte{'0'})
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, rerr := http.ReadResponse(bufio.NewReader(conn), nil)
	if rerr != nil {
		if err != nil {
			return "cut off" // the server answered and closed before the body was sent
		}
		return "read: " + rerr.Error()
	}
	resp.Body.Close()
	return resp.Status
}

// signedGitea posts a recorded Gitea delivery signed with secret.
func signedGitea(t *testing.T, addr string, secret []byte) (int, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "forge", "gitea", "testdata", "webhooks", "pull_request_synchronized.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Header http.Header `json:"header"`
		Body   string      `json:"body"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(rec.Body))
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/gitea", strings.NewReader(rec.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = rec.Header.Clone()
	req.Header.Del("X-Hub-Signature-256")
	req.Header.Del("X-Forgejo-Signature")
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}
