package webhook

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/muelle-dev/muelle/internal/atomicfile"
)

// Seen remembers delivery ids for a week, on disk, so a replayed delivery
// does nothing even after a restart. Only verified deliveries are
// recorded, so an attacker cannot fill it.
type Seen struct {
	path string
	keep time.Duration
	mu   sync.Mutex
	ids  map[string]time.Time
	f    *os.File
}

// OpenSeen loads the ids at path, drops those older than keep, rewrites
// the file compacted and opens it for appending.
func OpenSeen(path string, keep time.Duration, now time.Time) (*Seen, error) {
	s := &Seen{path: path, keep: keep, ids: map[string]time.Time{}}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			id, ts, ok := strings.Cut(sc.Text(), " ")
			sec, err := strconv.ParseInt(ts, 10, 64)
			if !ok || err != nil {
				continue // a line cut short by a crash
			}
			if t := time.Unix(sec, 0); now.Sub(t) < keep {
				s.ids[id] = t
			}
		}
		f.Close()
	}
	var b strings.Builder
	for id, t := range s.ids {
		fmt.Fprintf(&b, "%s %d\n", id, t.Unix())
	}
	if err := atomicfile.Write(path, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	if s.f, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// Check records id and reports whether it was seen before.
func (s *Seen) Check(id string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.ids[id]; ok && now.Sub(t) < s.keep {
		return true, nil
	}
	s.ids[id] = now
	_, err := fmt.Fprintf(s.f, "%s %d\n", id, now.Unix())
	return false, err
}

// Prune forgets ids older than the keep period (in memory; the file is
// compacted on the next open).
func (s *Seen) Prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.ids {
		if now.Sub(t) >= s.keep {
			delete(s.ids, id)
		}
	}
}

// Close closes the file.
func (s *Seen) Close() error { return s.f.Close() }
