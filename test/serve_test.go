//go:build docker

package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/webhook"
)

// serveStack is a deploy stack whose repository has a bare origin, a
// developer's clone of it, and muelle serve running on it.
type serveStack struct {
	*deployStack
	dev, url, secret string
	cmd              *exec.Cmd
	logs             *bytes.Buffer
}

func newServeStack(t *testing.T) *serveStack {
	s := &serveStack{deployStack: newDeployStack(t), secret: randomHex(t, 24)}
	tmp := t.TempDir()
	origin := filepath.Join(tmp, "origin.git")
	s.dev = filepath.Join(tmp, "dev")
	if out, err := exec.Command("git", "clone", "-q", "--bare", s.dir, origin).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	s.git("remote", "add", "origin", origin)
	s.git("fetch", "-q", "origin")
	if out, err := exec.Command("git", "clone", "-q", origin, s.dev).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	env, err := os.OpenFile(filepath.Join(s.dir, ".env.production"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(env, "GITHUB_WEBHOOK_SECRET=%s\n", s.secret)
	env.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s.url = "http://" + addr
	writeFile(t, filepath.Join(s.dir, "muelle.yaml"), fmt.Sprintf(`project: %s
state_dir: %s
backup:
  dir: %s
deploy:
  branch: main
  watch: 2s
  drain: 1s
  health_timeout: 60s
  workers: [worker]
serve:
  listen: %s
  github:
    repository: octo-org/pinboard
    secrets: ["${GITHUB_WEBHOOK_SECRET}"]
`, s.proj.Name, s.state, s.backups, addr))

	s.logs = &bytes.Buffer{}
	s.cmd = exec.Command(muelleBin, "serve", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("muelle serve's log:\n%s", tail(s.logs.String(), 60))
		}
	})
	for i := 0; ; i++ {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("muelle serve did not start:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *serveStack) devGit(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("git", append([]string{"-C", s.dev, "-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func pushPayload(commit string) []byte {
	return []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","created":false,"deleted":false,"forced":false,
"repository":{"id":1,"name":"pinboard","full_name":"octo-org/pinboard","default_branch":"main"},
"pusher":{"name":"dev","email":"dev@example.com"},"sender":{"login":"dev","id":2},
"head_commit":{"id":"%s","message":"change"}}`, strings.Repeat("0", 39)+"1", commit, commit))
}

// deliver sends a GitHub delivery signed with secret from the given local address.
func deliverGitHub(client *http.Client, url, event, id string, body []byte, sig string) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/test")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *serveStack) waitServing(t *testing.T, commit string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s.serving() == commit[:12] && !s.deploying(t) {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("release %s never went live; serving %s\n%s", commit[:12], s.serving(), muelle(t, "releases", s.dir))
}

func (s *serveStack) deploying(t *testing.T) bool {
	for _, r := range s.releases(t) {
		if r["status"] == "running" {
			return true
		}
	}
	return false
}

func rss(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// TestServeDeploysOnPush: a signed push delivery deploys the pushed commit
// through the deploy pipeline; a burst of 100 concurrent pushes ends with
// one deploy at a time and the newest commit live; 10,000 bad deliveries
// start nothing and do not stop a valid one.
func TestServeDeploysOnPush(t *testing.T) {
	s := newServeStack(t)
	client := &http.Client{Timeout: 15 * time.Second}

	var first string
	t.Run("push deploys the pushed commit", func(t *testing.T) {
		s.devGit("commit", "-q", "--allow-empty", "-m", "first pushed change")
		s.devGit("push", "-q", "origin", "main")
		first = s.devGit("rev-parse", "HEAD")
		body := pushPayload(first)
		code, err := deliverGitHub(client, s.url, "push", "delivery-first", body, webhook.SignGitHub([]byte(s.secret), body))
		if err != nil || code != 202 {
			t.Fatalf("delivery: %d %v", code, err)
		}
		s.waitServing(t, first, 3*time.Minute)
		out := muelle(t, "webhooks", s.dir)
		if !strings.Contains(out, "delivery-first") || !strings.Contains(out, "live "+first[:12]) {
			t.Errorf("muelle webhooks:\n%s", out)
		}
		// A replay of the same delivery does nothing.
		if code, _ := deliverGitHub(client, s.url, "push", "delivery-first", body, webhook.SignGitHub([]byte(s.secret), body)); code != 200 {
			t.Errorf("replay: %d, want 200", code)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("a burst of 100 pushes ends with the newest live", func(t *testing.T) {
		before := len(s.releases(t))
		var commits []string
		for i := range 100 {
			s.devGit("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("burst %d", i))
			commits = append(commits, s.devGit("rev-parse", "HEAD"))
		}
		s.devGit("push", "-q", "origin", "main")
		var wg sync.WaitGroup
		var bad atomic.Int32
		for i, c := range commits {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := pushPayload(c)
				if code, err := deliverGitHub(client, s.url, "push", fmt.Sprintf("burst-%d", i), body, webhook.SignGitHub([]byte(s.secret), body)); err != nil || code != 202 {
					bad.Add(1)
				}
			}()
		}
		wg.Wait()
		if bad.Load() > 0 {
			t.Errorf("%d of 100 valid deliveries were not accepted", bad.Load())
		}
		newest := commits[len(commits)-1]
		s.waitServing(t, newest, 5*time.Minute)
		rs := s.releases(t)[before:]
		if len(rs) > 2 {
			t.Errorf("the burst ran %d deploys; want at most 2 (the one that started, then the newest)", len(rs))
		}
		// One at a time: no two deploys overlap.
		for i := 1; i < len(rs); i++ {
			prevEnd, _ := time.Parse(time.RFC3339Nano, rs[i-1]["finished"].(string))
			start, _ := time.Parse(time.RFC3339Nano, rs[i]["started"].(string))
			if start.Before(prevEnd) {
				t.Errorf("deploys %v and %v overlap", rs[i-1]["id"], rs[i]["id"])
			}
		}
	})

	t.Run("10,000 bad deliveries start nothing and do not block a valid one", func(t *testing.T) {
		pid := s.cmd.Process.Pid
		rssBefore := rss(t, pid)
		before := len(s.releases(t))
		// From 200 loopback addresses, so that the per-address limit of
		// failed checks does not answer most of them before their body
		// is looked at.
		var conns atomic.Int32
		attacker := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				ip := net.IPv4(127, 0, 1, byte(1+conns.Add(1)%200))
				return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext(ctx, network, addr)
			},
		}}
		old := pushPayload(first)
		oldSig := webhook.SignGitHub([]byte(s.secret), old)
		counts := map[int]int{}
		var mu sync.Mutex
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					var code int
					var err error
					switch i % 4 {
					case 0: // wrong signature
						code, err = deliverGitHub(attacker, s.url, "push", fmt.Sprint("evil-", i), old, webhook.SignGitHub([]byte("guess"), old))
					case 1: // a captured delivery replayed, under its id or a new one
						id := "delivery-first"
						if i%8 == 5 {
							id = fmt.Sprint("replay-", i)
						}
						code, err = deliverGitHub(attacker, s.url, "push", id, old, oldSig)
					case 2: // malformed JSON, every other one signed
						bad := []byte(fmt.Sprintf(`{"ref":%d`, i))
						sig := "sha256=00"
						if i%8 == 2 {
							sig = webhook.SignGitHub([]byte(s.secret), bad)
						}
						code, err = deliverGitHub(attacker, s.url, "push", fmt.Sprint("bad-", i), bad, sig)
					case 3: // oversized, declared
						req, _ := http.NewRequest(http.MethodPost, s.url+"/hooks/github", io.LimitReader(zeroReader{}, 26<<20))
						req.ContentLength = 26 << 20
						var resp *http.Response
						if resp, err = attacker.Do(req); err == nil {
							code = resp.StatusCode
							resp.Body.Close()
						} else {
							code, err = 413, nil // the server may close before reading it all
						}
					}
					mu.Lock()
					if err != nil {
						counts[-1]++
					} else {
						counts[code]++
					}
					mu.Unlock()
				}
			}()
		}
		// A valid delivery in the middle of the attack.
		s.devGit("commit", "-q", "--allow-empty", "-m", "during the attack")
		s.devGit("push", "-q", "origin", "main")
		valid := s.devGit("rev-parse", "HEAD")
		go func() {
			for i := range 10000 {
				jobs <- i
			}
			close(jobs)
		}()
		time.Sleep(500 * time.Millisecond)
		body := pushPayload(valid)
		code, err := deliverGitHub(client, s.url, "push", "during-attack", body, webhook.SignGitHub([]byte(s.secret), body))
		wg.Wait()
		t.Logf("attack answers: %v", counts)
		if err != nil || code != 202 {
			t.Errorf("the valid delivery during the attack: %d %v", code, err)
		}
		if counts[202] > 0 {
			t.Errorf("%d bad deliveries were accepted", counts[202])
		}
		// Each kind was answered for what it is, not only by the limiter.
		for _, code := range []int{200, 400, 401, 413} {
			if counts[code] == 0 {
				t.Errorf("no bad delivery was answered %d: %v", code, counts)
			}
		}
		s.waitServing(t, valid, 3*time.Minute)
		if n := len(s.releases(t)) - before; n != 1 {
			t.Errorf("%d deploys after the attack; want exactly 1 (the valid delivery)", n)
		}
		rssAfter := rss(t, pid)
		t.Logf("muelle serve resident memory: %d MB before, %d MB after", rssBefore>>20, rssAfter>>20)
		if rssAfter > 150<<20 {
			t.Errorf("muelle serve uses %d MB after the attack", rssAfter>>20)
		}
	})

	t.Run("SIGTERM during a deploy lets it finish, then stops", func(t *testing.T) {
		s.devGit("commit", "-q", "--allow-empty", "-m", "deployed while stopping")
		s.devGit("push", "-q", "origin", "main")
		last := s.devGit("rev-parse", "HEAD")
		body := pushPayload(last)
		if code, err := deliverGitHub(client, s.url, "push", "before-sigterm", body, webhook.SignGitHub([]byte(s.secret), body)); err != nil || code != 202 {
			t.Fatalf("delivery: %d %v", code, err)
		}
		deadline := time.Now().Add(time.Minute)
		for !s.deploying(t) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !s.deploying(t) {
			t.Fatal("the deploy never started")
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("muelle serve exited with %v after SIGTERM", err)
			}
		case <-time.After(5 * time.Minute):
			t.Fatal("muelle serve did not stop within 5 minutes of SIGTERM")
		}
		if s.deploying(t) || s.serving() != last[:12] {
			t.Errorf("after SIGTERM during its deploy: serving %s, want %s live\n%s", s.serving(), last[:12], muelle(t, "releases", s.dir))
		}
		if !strings.Contains(s.logs.String(), `"msg":"stopped"`) {
			t.Errorf("no clean stop in the log:\n%s", tail(s.logs.String(), 10))
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
