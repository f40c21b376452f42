package webhook

import (
	"context"
	"sync"
)

// Job is one deploy request.
type Job struct {
	Commit   string
	Ref      string
	Delivery string
	Trigger  string
	// Forced is a force push: it replaces what waits even when its
	// commit does not descend from it.
	Forced bool
}

// Queue runs one deploy at a time. A job submitted while one runs waits;
// a newer submission replaces a waiting one, so a burst ends with exactly
// one more deploy, of the newest commit.
type Queue struct {
	run func(ctx context.Context, j Job)
	// superseded is told about jobs a newer one replaced.
	superseded func(old, by Job)
	// Newer, when set, tells whether b's commit is newer than a's (say,
	// a descendant); deliveries can arrive out of order. Without it, the
	// later submission counts as newer.
	Newer func(a, b Job) bool

	current *Job // the running job

	mu      sync.Mutex
	running bool
	pending *Job
	closed  bool
	idle    sync.Cond
	ctx     context.Context
}

// NewQueue returns a queue that runs jobs with run, under ctx.
func NewQueue(ctx context.Context, run func(context.Context, Job), superseded func(old, by Job)) *Queue {
	q := &Queue{run: run, superseded: superseded, ctx: ctx}
	q.idle.L = &q.mu
	return q
}

// Submit queues j. It reports "started", "queued", "superseded" (a job
// for the same or a newer commit already runs or waits), or "closed" once
// the queue is shutting down. Newer is asked without the queue's lock
// held (it may run git), so other deliveries are not held up by it; if
// the job it compared with changed meanwhile, Submit decides again.
func (q *Queue) Submit(j Job) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return "closed"
		}
		if !q.running {
			q.running = true
			q.current = &j
			go q.loop(j)
			return "started"
		}
		older := q.pending
		if older == nil {
			older = q.current
		}
		newer := older == nil || older.Commit != j.Commit
		if newer && older != nil && q.Newer != nil && !j.Forced {
			q.mu.Unlock()
			newer = q.Newer(*older, j)
			q.mu.Lock()
			if now := cmpOrJob(q.pending, q.current); now != older || !q.running {
				continue // what runs or waits changed while git was asked
			}
		}
		if !newer {
			// Not newer than what runs or waits: nothing to add.
			if q.superseded != nil {
				q.superseded(j, *older)
			}
			return "superseded"
		}
		if q.pending != nil && q.superseded != nil {
			q.superseded(*q.pending, j)
		}
		q.pending = &j
		return "queued"
	}
}

// cmpOrJob returns a if it is set, else b.
func cmpOrJob(a, b *Job) *Job {
	if a != nil {
		return a
	}
	return b
}

func (q *Queue) loop(j Job) {
	for {
		q.run(q.ctx, j)
		q.mu.Lock()
		if q.pending == nil || q.closed {
			q.running, q.current = false, nil
			q.idle.Broadcast()
			q.mu.Unlock()
			return
		}
		j = *q.pending
		q.pending = nil
		q.current = &j
		q.mu.Unlock()
	}
}

// Close stops accepting jobs, drops a waiting one (returned, if any) and
// waits for the running one to finish.
func (q *Queue) Close() *Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	dropped := q.pending
	q.pending = nil
	for q.running {
		q.idle.Wait()
	}
	return dropped
}
