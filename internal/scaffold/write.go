package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/muelle-dev/muelle/internal/atomicfile"
	"github.com/pmezard/go-difflib/difflib"
)

// Action says what Write did with one file.
type Action string

// What can happen to a generated file.
const (
	Created   Action = "created"
	Unchanged Action = "unchanged"
	Kept      Action = "kept"     // exists and differs; not forced
	Replaced  Action = "replaced" // exists and differed; forced
)

// Change reports one file.
type Change struct {
	Path   string
	Action Action
	// Diff is a unified diff from the old content to the new one, for Kept
	// (what --force would change) and Replaced.
	Diff string
}

// Write writes files under root. A file that exists is left alone unless
// force is set; each write is atomic.
func Write(root string, files []File, force bool) ([]Change, error) {
	var changes []Change
	for _, f := range files {
		target := filepath.Join(root, filepath.FromSlash(f.Path))
		old, err := os.ReadFile(target)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := atomicfile.Write(target, f.Content, fs.FileMode(f.Mode)); err != nil {
				return changes, err
			}
			changes = append(changes, Change{Path: f.Path, Action: Created})
			continue
		case err != nil:
			return changes, fmt.Errorf("read %s: %w", f.Path, err)
		}
		if bytes.Equal(old, f.Content) {
			changes = append(changes, Change{Path: f.Path, Action: Unchanged})
			continue
		}
		diff, err := unifiedDiff(f.Path, old, f.Content)
		if err != nil {
			return changes, err
		}
		if !force {
			changes = append(changes, Change{Path: f.Path, Action: Kept, Diff: diff})
			continue
		}
		if err := atomicfile.Write(target, f.Content, fs.FileMode(f.Mode)); err != nil {
			return changes, err
		}
		changes = append(changes, Change{Path: f.Path, Action: Replaced, Diff: diff})
	}
	return changes, nil
}

func unifiedDiff(name string, old, new []byte) (string, error) {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(old)),
		B:        difflib.SplitLines(string(new)),
		FromFile: "a/" + name,
		ToFile:   "b/" + name,
		Context:  2,
	})
	if err != nil {
		return "", fmt.Errorf("diff %s: %w", name, err)
	}
	return d, nil
}
