package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Lock is the deploy lock of one project: one deploy or rollback at a time,
// whether started from the command line or by `muelle serve`. It is an
// flock, so the kernel releases it when its holder dies, even by SIGKILL:
// a crashed run cannot leave it stuck.
type Lock struct {
	f *os.File
}

// ErrLocked means another deploy or rollback holds the lock.
var ErrLocked = errors.New("another deploy or rollback of this project is running")

// TryLock takes the lock or fails at once with ErrLocked, saying who holds it.
func (s *State) TryLock(what string) (*Lock, error) {
	return s.lock(context.Background(), what, false)
}

// WaitLock takes the lock, waiting while another run holds it.
func (s *State) WaitLock(ctx context.Context, what string) (*Lock, error) {
	return s.lock(ctx, what, true)
}

func (s *State) lock(ctx context.Context, what string, wait bool) (*Lock, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(s.Dir, "deploy.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("deploy lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("deploy lock: %w", err)
		}
		if !wait {
			holder, _ := os.ReadFile(path)
			f.Close()
			if h := strings.TrimSpace(string(holder)); h != "" {
				return nil, fmt.Errorf("%w (%s); wait for it to finish", ErrLocked, h)
			}
			return nil, fmt.Errorf("%w; wait for it to finish", ErrLocked)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Who holds it, for the message others get. Best effort.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%s by pid %d since %s\n", what, os.Getpid(), time.Now().UTC().Format(time.RFC3339))), 0)
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
