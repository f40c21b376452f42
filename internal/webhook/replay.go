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
			} else {
				delete(s.ids, id) // expired, or forgotten (a time of 0)
			}
		}
		f.Close()
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	return s, nil
}

// compact rewrites the file with the ids in memory only, atomically, and
// reopens it for appending. Callers hold s.mu (or own s alone).
func (s *Seen) compact() error {
	var b strings.Builder
	for id, t := range s.ids {
		fmt.Fprintf(&b, "%s %d\n", id, t.Unix())
	}
	if err := atomicfile.Write(s.path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f = f
	return nil
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

// Forget removes id, so that a redelivery of it is handled anew: for a
// delivery that was verified but then could not be taken (the daemon was
// stopping). The forgetting is appended to the file too.
func (s *Seen) Forget(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
	_, err := fmt.Fprintf(s.f, "%s 0\n", id)
	return err
}

// Prune forgets ids older than the keep period and compacts the file, so
// neither grows beyond a week of deliveries however long the daemon runs.
func (s *Seen) Prune(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.ids {
		if now.Sub(t) >= s.keep {
			delete(s.ids, id)
		}
	}
	return s.compact()
}

// Close closes the file.
func (s *Seen) Close() error { return s.f.Close() }
