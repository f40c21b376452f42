package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/muelle-dev/muelle/internal/config"
)

// Retain splits entries by a grandfather-father-son policy: the newest
// keep.Last, plus the newest backup of each of the last keep.Daily days,
// keep.Weekly ISO weeks and keep.Monthly months that have a backup (in UTC).
// Both results are sorted oldest first.
func Retain(entries []Entry, keep config.Keep) (kept, removed []Entry) {
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Created.After(sorted[j].Created) })
	keepIdx := map[int]bool{}
	for i := 0; i < len(sorted) && i < keep.Last; i++ {
		keepIdx[i] = true
	}
	bucket := func(n int, key func(time.Time) string) {
		seen := map[string]bool{}
		for i, e := range sorted {
			if len(seen) >= n {
				return
			}
			k := key(e.Created.UTC())
			if !seen[k] {
				seen[k] = true
				keepIdx[i] = true
			}
		}
	}
	bucket(keep.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(keep.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) })
	bucket(keep.Monthly, func(t time.Time) string { return t.Format("2006-01") })
	for i := len(sorted) - 1; i >= 0; i-- {
		if keepIdx[i] {
			kept = append(kept, sorted[i])
		} else {
			removed = append(removed, sorted[i])
		}
	}
	return kept, removed
}

// Prune removes the backups the policy does not keep: their dumps, their
// media snapshots (and the data only they used) and their catalogue
// entries. With dryRun it only reports them.
func (m *Manager) Prune(ctx context.Context, keep config.Keep, dryRun bool) ([]Entry, error) {
	c, err := m.Store.Load()
	if err != nil {
		return nil, err
	}
	kept, removed := Retain(c.Backups, keep)
	if dryRun || len(removed) == 0 {
		return removed, nil
	}
	// Backups of an unchanged media tree share a snapshot: forget only
	// those no kept backup uses.
	inUse := map[string]bool{}
	for _, e := range kept {
		if e.Media != nil {
			inUse[e.Media.Snapshot] = true
		}
	}
	var snapshots []string
	for _, e := range removed {
		if e.Media != nil && e.Media.Snapshot != "" && !inUse[e.Media.Snapshot] && !slices.Contains(snapshots, e.Media.Snapshot) {
			snapshots = append(snapshots, e.Media.Snapshot)
		}
	}
	// The catalogue first: a backup that is listed must exist; a dump left
	// over by a crash below is only wasted space.
	gone := map[string]bool{}
	for _, e := range removed {
		gone[e.ID] = true
	}
	if err := m.Store.Update(func(c *Catalogue) error {
		kept := c.Backups[:0]
		for _, e := range c.Backups {
			if !gone[e.ID] {
				kept = append(kept, e)
			}
		}
		c.Backups = kept
		return nil
	}); err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range removed {
		if e.DB != nil {
			if err := os.Remove(filepath.Join(m.Store.Dir, filepath.FromSlash(e.DB.File))); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(snapshots) > 0 {
		if err := m.restic().forget(ctx, snapshots); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.forgetOffsite(ctx, removed, kept); err != nil {
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}
