package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const secret = "s3cret-for-tests"

var rules = Rules{Repository: "octo-org/pinboard", Branch: "main", Trigger: "push"}

func pushBody(ref, after string) []byte {
	return []byte(fmt.Sprintf(`{"ref":%q,"before":"%s","after":%q,"deleted":false,"repository":{"full_name":"Octo-Org/pinboard"},"sender":{"login":"ana"}}`,
		ref, strings.Repeat("1", 40), after))
}

type recorder struct {
	mu   sync.Mutex
	jobs []Job
	gate chan struct{} // when set, each job waits for a value
}

func (r *recorder) run(_ context.Context, j Job) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.jobs = append(r.jobs, j)
	r.mu.Unlock()
}

func newReceiver(t *testing.T, rec *recorder) (*Receiver, string) {
	t.Helper()
	dir := t.TempDir()
	seen, err := OpenSeen(filepath.Join(dir, "deliveries"), 7*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seen.Close() })
	log, err := OpenActivityLog(filepath.Join(dir, "webhooks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	rc := (&Receiver{Forge: "github", Rules: rules, Secrets: [][]byte{[]byte(secret)}, Seen: seen, Log: log,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Queue: NewQueue(context.Background(), rec.run, nil)}).Init()
	return rc, filepath.Join(dir, "webhooks.jsonl")
}

func deliver(rc http.Handler, event, id string, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	return w
}

func signed(body []byte) string { return SignGitHub([]byte(secret), body) }

func TestReceiverDecisions(t *testing.T) {
	rec := &recorder{}
	rc, logPath := newReceiver(t, rec)
	commit := strings.Repeat("a", 40)
	cases := []struct {
		name, event string
		body        []byte
		status      int
		deploys     bool
	}{
		{"ping", "ping", []byte(`{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"full_name":"octo-org/pinboard"}}`), 200, false},
		{"push to main", "push", pushBody("refs/heads/main", commit), 202, true},
		{"push to another branch", "push", pushBody("refs/heads/feature", strings.Repeat("b", 40)), 202, false},
		{"tag push", "push", pushBody("refs/tags/v1.0.0", strings.Repeat("c", 40)), 202, false},
		{"branch deletion", "push", pushBody("refs/heads/main", zeroCommit), 202, false},
		{"another repository", "push", bytes.Replace(pushBody("refs/heads/main", strings.Repeat("d", 40)), []byte("Octo-Org/pinboard"), []byte("mallory/pinboard"), 1), 202, false},
		{"unknown event", "star", []byte(`{"action":"created"}`), 202, false},
	}
	for i, c := range cases {
		w := deliver(rc, c.event, fmt.Sprintf("id-%d", i), c.body, signed(c.body))
		if w.Code != c.status {
			t.Errorf("%s: status %d (%s), want %d", c.name, w.Code, w.Body.String(), c.status)
		}
	}
	rc.Queue.Close()
	if len(rec.jobs) != 1 || rec.jobs[0].Commit != commit || !strings.Contains(rec.jobs[0].Trigger, "ana") {
		t.Fatalf("deploys: %+v, want one of %s", rec.jobs, commit)
	}
	entries, err := ReadActivity(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(cases) {
		t.Fatalf("activity log has %d entries, want %d", len(entries), len(cases))
	}
	for i, want := range []string{"ping", "push to main", "is not the branch main", "tag push ignored", "branch deletion ignored", "repository mallory/pinboard", "event star ignored"} {
		if !strings.Contains(entries[i].Reason, want) {
			t.Errorf("entry %d reason %q, want %q", i, entries[i].Reason, want)
		}
	}
}

func TestReceiverRejects(t *testing.T) {
	rec := &recorder{}
	rc, _ := newReceiver(t, rec)
	body := pushBody("refs/heads/main", strings.Repeat("a", 40))
	wrong := SignGitHub([]byte("not the secret"), body)
	for name, w := range map[string]*httptest.ResponseRecorder{
		"no signature":    deliver(rc, "push", "r1", body, ""),
		"wrong signature": deliver(rc, "push", "r2", body, wrong),
		"sha1 only": func() *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature", "sha1=0123")
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, req)
			return w
		}(),
	} {
		if w.Code != 401 {
			t.Errorf("%s: status %d, want 401", name, w.Code)
		}
		// Nothing about the expected value leaks.
		if b := w.Body.String(); strings.Contains(b, "sha256") || len(b) > 40 {
			t.Errorf("%s: body %q says too much", name, b)
		}
	}
	// Replays of a verified delivery do nothing.
	if w := deliver(rc, "push", "same-id", body, signed(body)); w.Code != 202 {
		t.Fatalf("first delivery: %d", w.Code)
	}
	if w := deliver(rc, "push", "same-id", body, signed(body)); w.Code != 200 || !strings.Contains(w.Body.String(), "duplicate") {
		t.Fatalf("replay: %d %s", w.Code, w.Body.String())
	}
	// Malformed JSON with a valid signature.
	bad := []byte(`{"ref": "refs/heads/main", "after": `)
	if w := deliver(rc, "push", "bad-json", bad, signed(bad)); w.Code != 400 {
		t.Errorf("malformed JSON: %d", w.Code)
	}
	// Oversized: refused on the declared length, without reading the body.
	counted := &countingReader{r: io.LimitReader(zeros{}, MaxPayload+1)}
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", counted)
	req.ContentLength = MaxPayload + 1
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code != 413 || counted.n != 0 {
		t.Errorf("oversized: %d after reading %d bytes of the body, want 413 after none", w.Code, counted.n)
	}
	// Oversized without a declared length (chunked): cut at the limit.
	req = httptest.NewRequest(http.MethodPost, "/hooks/github", io.LimitReader(zeros{}, MaxPayload+1))
	req.ContentLength = -1
	w = httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code != 413 {
		t.Errorf("oversized chunked: %d", w.Code)
	}
	rc.Queue.Close()
	if len(rec.jobs) != 1 {
		t.Fatalf("deploys: %d, want 1 (the first verified delivery)", len(rec.jobs))
	}
}

type zeros struct{}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestFormEncodedDelivery(t *testing.T) {
	rec := &recorder{}
	rc, _ := newReceiver(t, rec)
	commit := strings.Repeat("e", 40)
	body := []byte("payload=" + url.QueryEscape(string(pushBody("refs/heads/main", commit))))
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "form-1")
	req.Header.Set("X-Hub-Signature-256", signed(body)) // over the raw form body
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	rc.Queue.Close()
	if w.Code != 202 || len(rec.jobs) != 1 || rec.jobs[0].Commit != commit {
		t.Fatalf("form delivery: %d %s, jobs %v", w.Code, w.Body.String(), rec.jobs)
	}
}

func TestFailedSignaturesAreRateLimited(t *testing.T) {
	rc, _ := newReceiver(t, &recorder{})
	body := pushBody("refs/heads/main", strings.Repeat("a", 40))
	codes := map[int]int{}
	for i := range 30 {
		codes[deliver(rc, "push", fmt.Sprint(i), body, "sha256=00").Code]++
	}
	if codes[401] != 20 || codes[429] != 10 {
		t.Fatalf("30 bad deliveries from one address: %v, want 20×401 then 10×429", codes)
	}
	// Another address is not affected.
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
	req.RemoteAddr = "192.0.2.7:4444"
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "other")
	req.Header.Set("X-Hub-Signature-256", signed(body))
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code != 202 {
		t.Fatalf("valid delivery from another address: %d", w.Code)
	}
	rc.Queue.Close()
}

// A burst of pushes while a deploy runs ends with one more deploy: the newest.
func TestQueueCoalesces(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	var superseded []string
	var mu sync.Mutex
	q := NewQueue(context.Background(), rec.run, func(old, by Job) {
		mu.Lock()
		superseded = append(superseded, old.Commit)
		mu.Unlock()
	})
	if got := q.Submit(Job{Commit: "c0"}); got != "started" {
		t.Fatalf("first submit: %s", got)
	}
	for i := 1; i <= 50; i++ {
		if got := q.Submit(Job{Commit: fmt.Sprintf("c%d", i)}); got != "queued" {
			t.Fatalf("submit %d: %s", i, got)
		}
	}
	rec.gate <- struct{}{} // c0 finishes
	rec.gate <- struct{}{} // then the newest
	q.Close()
	if len(rec.jobs) != 2 || rec.jobs[0].Commit != "c0" || rec.jobs[1].Commit != "c50" {
		t.Fatalf("ran %v, want c0 then c50", rec.jobs)
	}
	if len(superseded) != 49 {
		t.Fatalf("%d superseded, want 49", len(superseded))
	}
	if q.Submit(Job{Commit: "late"}) != "closed" {
		t.Fatal("a closed queue accepted a job")
	}
}

func TestSeenSurvivesRestartAndExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deliveries")
	week := 7 * 24 * time.Hour
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s, err := OpenSeen(path, week, t0)
	if err != nil {
		t.Fatal(err)
	}
	s.Check("old", t0)
	s.Check("new", t0.Add(6*24*time.Hour))
	s.Close()
	s, err = OpenSeen(path, week, t0.Add(8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if dup, _ := s.Check("new", t0.Add(8*24*time.Hour)); !dup {
		t.Error("a delivery from two days ago was forgotten across a restart")
	}
	if dup, _ := s.Check("old", t0.Add(8*24*time.Hour)); dup {
		t.Error("a delivery from eight days ago was still remembered")
	}
}

// Deliveries can arrive out of order: with Newer set, an older commit
// never replaces a newer one, running or waiting.
func TestQueueKeepsTheNewestCommit(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	q := NewQueue(context.Background(), rec.run, nil)
	q.Newer = func(a, b Job) bool { return b.Commit > a.Commit } // commits named in order
	q.Submit(Job{Commit: "c05"})
	for _, c := range []string{"c07", "c09", "c08", "c03", "c05"} {
		q.Submit(Job{Commit: c})
	}
	rec.gate <- struct{}{}
	rec.gate <- struct{}{}
	q.Close()
	if len(rec.jobs) != 2 || rec.jobs[1].Commit != "c09" {
		t.Fatalf("ran %v, want c05 then c09", rec.jobs)
	}
}

// GitHub's SHA-1 signature alone, even a correct one, is not accepted.
func TestSHA1SignatureAloneIsRefused(t *testing.T) {
	rec := &recorder{}
	rc, _ := newReceiver(t, rec)
	body := pushBody("refs/heads/main", strings.Repeat("a", 40))
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "sha1-only")
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	rc.Queue.Close()
	if w.Code != 401 || len(rec.jobs) != 0 {
		t.Fatalf("a delivery signed with SHA-1 only: %d %q, jobs %v; want 401 and no deploy", w.Code, w.Body.String(), rec.jobs)
	}
}

// A verified delivery that arrives while the daemon stops gets 503, and
// its redelivery (same id) is handled anew, not dropped as a duplicate.
func TestDeliveryRefusedAtShutdownCanBeRedelivered(t *testing.T) {
	rec := &recorder{}
	rc, _ := newReceiver(t, rec)
	rc.Queue.Close()
	body := pushBody("refs/heads/main", strings.Repeat("a", 40))
	if w := deliver(rc, "push", "d-1", body, signed(body)); w.Code != 503 {
		t.Fatalf("delivery to a stopping daemon: %d %s, want 503", w.Code, w.Body.String())
	}
	rc.Queue = NewQueue(context.Background(), rec.run, nil) // the daemon started again
	if w := deliver(rc, "push", "d-1", body, signed(body)); w.Code != 202 {
		t.Fatalf("redelivery after a 503: %d %s, want 202", w.Code, w.Body.String())
	}
	rc.Queue.Close()
	if len(rec.jobs) != 1 {
		t.Fatalf("jobs %v, want the redelivered push", rec.jobs)
	}
}

// Behind a trusted proxy, failed checks count per client address, so one
// attacker does not lock out GitHub's deliveries that come through it too.
func TestRateLimitPerClientBehindTrustedProxy(t *testing.T) {
	rc, _ := newReceiver(t, &recorder{})
	_, loop, _ := net.ParseCIDR("127.0.0.0/8")
	rc.TrustedProxies = []*net.IPNet{loop}
	body := pushBody("refs/heads/main", strings.Repeat("a", 40))
	send := func(client, id, sig string) int {
		req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5555" // the proxy
		req.Header.Set("X-Forwarded-For", "203.0.113.50, "+client)
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", sig)
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	for i := range 25 {
		send("198.51.100.9", fmt.Sprint("bad", i), "sha256=00")
	}
	if code := send("198.51.100.9", "bad-last", "sha256=00"); code != 429 {
		t.Errorf("the attacking client after 25 failures: %d, want 429", code)
	}
	if code := send("140.82.115.1", "good", signed(body)); code != 202 {
		t.Errorf("a valid delivery from another client through the same proxy: %d, want 202", code)
	}
	// An untrusted peer cannot pick its address with the header.
	if got := rc.source(&http.Request{RemoteAddr: "192.0.2.1:1", Header: http.Header{"X-Forwarded-For": {"140.82.115.1"}}}); got != "192.0.2.1" {
		t.Errorf("source of an untrusted peer claiming another address: %s", got)
	}
	rc.Queue.Close()
}

// A deploy's result written before its delivery's line is still merged.
func TestActivityResultBeforeDelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.jsonl")
	l, err := OpenActivityLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Entry{Delivery: "d-7", Commit: "abc", Result: "failed", Error: "failed at build"})
	l.Write(Entry{Delivery: "d-7", Event: "push", Decision: "deploy", Commit: "abc"})
	l.Close()
	es, err := ReadActivity(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Result != "failed" || es[0].Error != "failed at build" {
		t.Fatalf("entries %+v, want the delivery with its failed result", es)
	}
}

// Prune forgets ids older than a week in the file too, and a forgotten id
// stays forgotten across a restart.
func TestSeenPruneCompactsAndForgetPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deliveries")
	week := 7 * 24 * time.Hour
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s, err := OpenSeen(path, week, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		s.Check(fmt.Sprint("old-", i), t0)
	}
	s.Check("kept", t0.Add(5*24*time.Hour))
	s.Check("forgotten", t0.Add(5*24*time.Hour))
	if err := s.Forget("forgotten"); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(t0.Add(8 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 1 {
		t.Errorf("after pruning, the file holds %d lines, want 1 (kept):\n%s", n, data)
	}
	s.Check("after-prune", t0.Add(8*24*time.Hour))
	s.Close()
	s, err = OpenSeen(path, week, t0.Add(8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string]bool{"kept": true, "after-prune": true, "forgotten": false, "old-1": false} {
		if dup, _ := s.Check(id, t0.Add(8*24*time.Hour)); dup != want {
			t.Errorf("%s remembered = %v, want %v", id, dup, want)
		}
	}
}

// Newer may be slow (it runs git); other submissions are not held up by
// it, and the newest commit still wins.
func TestQueueAsksNewerWithoutItsLock(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	q := NewQueue(context.Background(), rec.run, nil)
	slow := make(chan struct{})
	q.Newer = func(a, b Job) bool {
		if b.Commit == "c02" {
			<-slow
		}
		return b.Commit > a.Commit
	}
	q.Submit(Job{Commit: "c00"})
	done := make(chan string)
	go func() { done <- q.Submit(Job{Commit: "c02"}) }()
	time.Sleep(50 * time.Millisecond) // c02 is waiting for git
	fast := make(chan string)
	go func() { fast <- q.Submit(Job{Commit: "c03"}) }()
	select {
	case got := <-fast:
		if got != "queued" {
			t.Errorf("c03: %s, want queued", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a submission waited for another's Newer")
	}
	close(slow)
	if got := <-done; got != "superseded" {
		t.Errorf("c02, older than the queued c03: %s, want superseded", got)
	}
	rec.gate <- struct{}{}
	rec.gate <- struct{}{}
	q.Close()
	if len(rec.jobs) != 2 || rec.jobs[1].Commit != "c03" {
		t.Fatalf("ran %v, want c00 then c03", rec.jobs)
	}
}

// The delivery id is not signed: a captured delivery sent again under a
// new id, or with none, is still a replay.
func TestReplayUnderAnotherIDIsIgnored(t *testing.T) {
	rec := &recorder{}
	rc, _ := newReceiver(t, rec)
	body := pushBody("refs/heads/main", strings.Repeat("b", 40))
	if w := deliver(rc, "push", "id-1", body, signed(body)); w.Code != 202 {
		t.Fatalf("first delivery: %d %s", w.Code, w.Body)
	}
	for _, id := range []string{"id-2", ""} {
		if w := deliver(rc, "push", id, body, signed(body)); w.Code != 200 || !strings.Contains(w.Body.String(), "duplicate") {
			t.Errorf("the same body under id %q: %d %s, want 200 duplicate", id, w.Code, w.Body)
		}
	}
	rc.Queue.Close()
	if len(rec.jobs) != 1 {
		t.Fatalf("%d deploys ran, want 1", len(rec.jobs))
	}
}

// Behind a proxy that appends X-Forwarded-For, a client's own X-Real-IP
// header cannot move its failures onto other addresses.
func TestRateLimitIgnoresClientChosenRealIP(t *testing.T) {
	rc, _ := newReceiver(t, &recorder{})
	_, loop, _ := net.ParseCIDR("127.0.0.0/8")
	rc.TrustedProxies = []*net.IPNet{loop}
	body := pushBody("refs/heads/main", strings.Repeat("c", 40))
	codes := map[int]int{}
	for i := range 40 {
		req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5555"
		req.Header.Set("X-Forwarded-For", "198.51.100.9")
		req.Header.Set("X-Real-IP", fmt.Sprintf("192.0.2.%d", i+1))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256=00")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		codes[w.Code]++
	}
	if codes[429] != 20 {
		t.Errorf("answers to 40 bad deliveries with rotating X-Real-IP: %v, want 20 of them 429", codes)
	}
	rc.Queue.Close()
}

// A force push replaces what waits even though it does not descend from it.
func TestQueueForcePushReplaces(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	q := NewQueue(context.Background(), rec.run, nil)
	q.Newer = func(a, b Job) bool { return b.Commit > a.Commit }
	q.Submit(Job{Commit: "c05"})
	q.Submit(Job{Commit: "c07"})
	if got := q.Submit(Job{Commit: "c02", Forced: true}); got != "queued" {
		t.Fatalf("force push of an older commit: %s, want queued", got)
	}
	rec.gate <- struct{}{}
	rec.gate <- struct{}{}
	q.Close()
	if len(rec.jobs) != 2 || rec.jobs[1].Commit != "c02" {
		t.Fatalf("ran %v, want c05 then c02", rec.jobs)
	}
}

// The GitLab and Gitea/Forgejo endpoints over HTTP: a wrong or missing
// token or signature is refused, the right one deploys the pushed commit,
// and Gitea's form-encoded delivery verifies against the JSON it signs.
func TestGitLabAndGiteaEndpoints(t *testing.T) {
	post := func(rc http.Handler, ctype string, body []byte, hdr map[string]string) int {
		req := httptest.NewRequest(http.MethodPost, "/hooks/x", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	t.Run("gitlab", func(t *testing.T) {
		rec := &recorder{}
		rc, _ := newReceiver(t, rec)
		rc.Forge = "gitlab"
		body, err := os.ReadFile("testdata/gitlab/push.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{"", secret + "x", strings.ToUpper(secret)} {
			if code := post(rc, "application/json", body, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": tok}); code != 401 {
				t.Errorf("token %q: %d, want 401", tok, code)
			}
		}
		if code := post(rc, "application/json", body, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": "u1"}); code != 202 {
			t.Errorf("right token: %d, want 202", code)
		}
		rc.Queue.Close()
		if len(rec.jobs) != 1 || rec.jobs[0].Commit != "26b6fd907598d714a8e9ab4181404e93df1af8b8" {
			t.Errorf("deploys: %+v", rec.jobs)
		}
	})
	t.Run("gitea", func(t *testing.T) {
		rec := &recorder{}
		rc, _ := newReceiver(t, rec)
		rc.Forge = "gitea"
		body, err := os.ReadFile("testdata/gitea/push.json")
		if err != nil {
			t.Fatal(err)
		}
		sig := strings.TrimPrefix(signed(body), "sha256=")
		form := []byte("payload=" + url.QueryEscape(string(body)))
		if code := post(rc, "application/x-www-form-urlencoded", form, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": "sha256=" + sig}); code != 401 {
			t.Errorf("prefixed signature: %d, want 401", code)
		}
		if code := post(rc, "application/json", body, map[string]string{"X-Gitea-Event": "push"}); code != 401 {
			t.Errorf("no signature: %d, want 401", code)
		}
		if code := post(rc, "application/x-www-form-urlencoded", form, map[string]string{"X-Forgejo-Event": "push", "X-Forgejo-Signature": sig, "X-Forgejo-Delivery": "f1"}); code != 202 {
			t.Errorf("Forgejo form delivery signed over the JSON: %d, want 202", code)
		}
		// The same signed JSON again, re-encoded or sent as is, under new
		// ids: a replay.
		reencoded := append(slices.Clone(form), "&z=1"...)
		if code := post(rc, "application/x-www-form-urlencoded", reencoded, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sig, "X-Gitea-Delivery": "f2"}); code != 200 {
			t.Errorf("replay re-encoded: %d, want 200", code)
		}
		if code := post(rc, "application/json", body, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sig, "X-Gitea-Delivery": "f3"}); code != 200 {
			t.Errorf("replay as JSON: %d, want 200", code)
		}
		rc.Queue.Close()
		if len(rec.jobs) != 1 || rec.jobs[0].Commit != "c24ca5f3e3a73a76c9aef7f558f8b8aa65af672e" {
			t.Errorf("deploys: %+v", rec.jobs)
		}
	})
}

// The activity log is rotated at its size limit, and read across both files.
func TestActivityLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.jsonl")
	l, err := OpenActivityLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.max = 4 << 10
	for i := range 200 {
		if err := l.Write(Entry{Time: time.Unix(int64(i), 0), Delivery: fmt.Sprint("d", i), Decision: "rejected", Reason: "signature missing or wrong"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	for _, p := range []string{path, path + ".1"} {
		if fi, err := os.Stat(p); err != nil || fi.Size() > 4<<10 {
			t.Fatalf("%s: %v %v, want at most 4 KiB", p, fi, err)
		}
	}
	got, err := ReadActivity(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1].Delivery != "d199" || len(got) >= 200 {
		t.Fatalf("read %d entries, last %v; want the newest ones, oldest dropped", len(got), got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		if !got[i].Time.After(got[i-1].Time) {
			t.Fatalf("entries out of order at %d", i)
		}
	}
}

func TestLimitKeyGroupsIPv6By64(t *testing.T) {
	l := newFailLimiter(3, time.Minute)
	now := time.Now()
	for i := range 3 {
		l.fail(fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
	}
	if !l.blocked("2001:db8:1:2:ffff::9", now) {
		t.Error("another address of the same /64 is not blocked")
	}
	if l.blocked("2001:db8:1:3::1", now) || l.blocked("192.0.2.1", now) {
		t.Error("an address outside the /64 is blocked")
	}
}
