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
}

// Queue runs one deploy at a time. A job submitted while one runs waits;
// a newer submission replaces a waiting one, so a burst ends with exactly
// one more deploy, of the newest commit.
type Queue struct {
	run func(ctx context.Context, j Job)
	// superseded is told about waiting jobs a newer one replaced.
	superseded func(old, by Job)

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

// Submit queues j. It reports "started" or "queued", or "closed" once
// the queue is shutting down.
func (q *Queue) Submit(j Job) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return "closed"
	}
	if q.running {
		if q.pending != nil && q.superseded != nil {
			q.superseded(*q.pending, j)
		}
		q.pending = &j
		return "queued"
	}
	q.running = true
	go q.loop(j)
	return "started"
}

func (q *Queue) loop(j Job) {
	for {
		q.run(q.ctx, j)
		q.mu.Lock()
		if q.pending == nil || q.closed {
			q.running = false
			q.idle.Broadcast()
			q.mu.Unlock()
			return
		}
		j = *q.pending
		q.pending = nil
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
