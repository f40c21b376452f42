package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
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
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", io.LimitReader(zeros{}, MaxPayload+1))
	req.ContentLength = MaxPayload + 1
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code != 413 {
		t.Errorf("oversized: %d", w.Code)
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
