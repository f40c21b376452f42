package schedule

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two ticks of the same job at once: one runs, the other is skipped and
// logged. A later tick runs again.
func TestOverlappingTicksAreSkipped(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	started := make(chan struct{})
	release := make(chan struct{})
	runs := 0
	job := Job{Name: "backup", Spec: "@daily", Run: func(ctx context.Context) error {
		runs++
		close(started)
		<-release
		return nil
	}}
	s, err := New([]Job{job}, t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error)
	go func() { first <- s.Tick(context.Background(), job) }()
	<-started
	if err := s.Tick(context.Background(), job); !errors.Is(err, ErrSkipped) {
		t.Errorf("second tick while the first runs: got %v, want ErrSkipped", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first tick: %v", err)
	}
	if runs != 1 {
		t.Errorf("job ran %d times, want 1", runs)
	}
	mu.Lock()
	got := logs.String()
	mu.Unlock()
	if !strings.Contains(got, "job run skipped") || !strings.Contains(got, "job=backup") {
		t.Errorf("the skip is not logged:\n%s", got)
	}

	job.Run = func(context.Context) error { runs++; return nil }
	if err := s.Tick(context.Background(), job); err != nil || runs != 2 {
		t.Errorf("tick after the first ended: got %v and %d runs, want it to run", err, runs)
	}
}

func TestBadSchedulesAreAllReported(t *testing.T) {
	_, err := New([]Job{
		{Name: "backup", Spec: "0 3 * *"},
		{Name: "verify", Spec: "@daily"},
		{Name: "prune", Spec: "every day"},
	}, t.TempDir(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "schedule.backup") || !strings.Contains(err.Error(), "schedule.prune") || strings.Contains(err.Error(), "schedule.verify") {
		t.Errorf("got %v, want errors naming backup and prune only", err)
	}
}

func TestRunStopsWithTheContext(t *testing.T) {
	s, err := New([]Job{{Name: "noop", Spec: "@every 1h", Run: func(context.Context) error { return nil }}}, t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, time.Second) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A job running when the daemon is told to stop finishes, within grace.
func TestRunLetsARunningJobFinish(t *testing.T) {
	started, finished := make(chan struct{}), make(chan error, 1)
	s, err := New([]Job{{Name: "slow", Spec: "@every 1s", Run: func(ctx context.Context) error {
		select {
		case started <- struct{}{}:
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			finished <- ctx.Err()
		case <-time.After(500 * time.Millisecond):
			finished <- nil
		}
		return nil
	}}}, t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, 10*time.Second) }()
	<-started
	cancel()
	if err := <-finished; err != nil {
		t.Fatalf("the running job saw %v at shutdown; want it to finish", err)
	}
	<-done
}
