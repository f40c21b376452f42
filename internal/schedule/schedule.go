package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one periodic task.
type Job struct {
	// Name identifies the job in logs and lock files.
	Name string
	// Spec is a cron expression (five fields, or @daily, @every 1h, ...).
	Spec string
	// Run does the work. It should stop when ctx ends.
	Run func(ctx context.Context) error
}

// Scheduler runs jobs on their schedules.
type Scheduler struct {
	jobs    []Job
	lockDir string
	log     *slog.Logger
	wg      sync.WaitGroup
}

// ErrSkipped means a run did not start because the previous run of the same
// job was still going.
var ErrSkipped = errors.New("skipped: the previous run is still going")

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// New checks every job's schedule and reports all bad ones at once. Lock
// files live in lockDir.
func New(jobs []Job, lockDir string, log *slog.Logger) (*Scheduler, error) {
	var problems []string
	for _, j := range jobs {
		if _, err := parser.Parse(j.Spec); err != nil {
			problems = append(problems, fmt.Sprintf("schedule.%s %q: %v (five cron fields, e.g. \"0 3 * * *\", or @daily)", j.Name, j.Spec, err))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return &Scheduler{jobs: jobs, lockDir: lockDir, log: log}, nil
}

// Run starts the schedules and blocks until ctx ends, then lets running
// jobs finish (a backup half taken is worth nothing) for at most grace,
// after which they see their context end.
func (s *Scheduler) Run(ctx context.Context, grace time.Duration) error {
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	c := cron.New(cron.WithParser(parser), cron.WithLocation(time.UTC))
	for _, j := range s.jobs {
		c.AddFunc(j.Spec, func() {
			s.wg.Add(1)
			defer s.wg.Done()
			s.Tick(jobCtx, j)
		})
		s.log.Info("job scheduled", "job", j.Name, "schedule", j.Spec)
	}
	c.Start()
	<-ctx.Done()
	stopped := c.Stop() // no new runs
	done := make(chan struct{})
	go func() {
		<-stopped.Done()
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.log.Warn("jobs still running at shutdown are stopped", "grace", grace)
		cancelJobs()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}
	return nil
}

// Tick runs j now unless a run of j is already going (here or in another
// muelle process), in which case it logs that and returns ErrSkipped.
func (s *Scheduler) Tick(ctx context.Context, j Job) error {
	return RunLocked(ctx, j, s.lockDir, s.log)
}

// RunLocked runs j while holding its lock file in lockDir.
func RunLocked(ctx context.Context, j Job, lockDir string, log *slog.Logger) error {
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return fmt.Errorf("lock directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(lockDir, "job-"+j.Name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("job %s: lock: %w", j.Name, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			log.Warn("job run skipped: the previous run is still going", "job", j.Name)
			return ErrSkipped
		}
		return fmt.Errorf("job %s: lock: %w", j.Name, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	start := time.Now()
	log.Info("job started", "job", j.Name)
	if err := j.Run(ctx); err != nil {
		log.Error("job failed", "job", j.Name, "took", time.Since(start).Round(time.Millisecond), "err", err)
		return fmt.Errorf("job %s: %w", j.Name, err)
	}
	log.Info("job done", "job", j.Name, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
