package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/muelle-dev/muelle/internal/atomicfile"
)

// restic drives a restic repository of media snapshots. Users never need
// to know it is there: muelle's commands do the backing up, restoring and
// checking.
type restic struct {
	repo         string
	passwordFile string
	cacheDir     string
	host         string
	// env holds the storage backend's credentials (AWS_*, B2_*, ...).
	env []string
}

func newRestic(dir, project string) *restic {
	return &restic{
		repo:         filepath.Join(dir, "media-repo"),
		passwordFile: filepath.Join(dir, "media-repo.key"),
		cacheDir:     filepath.Join(dir, "cache"),
		host:         project,
	}
}

func (r *restic) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "restic", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"RESTIC_REPOSITORY="+r.repo,
		"RESTIC_PASSWORD_FILE="+r.passwordFile,
		"RESTIC_CACHE_DIR="+r.cacheDir,
	)
	cmd.Env = append(cmd.Env, r.env...)
	return cmd
}

func (r *restic) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := r.command(ctx, dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, errors.New("restic is not installed: apt-get install restic (scripts/bootstrap does it)")
	}
	if err != nil {
		return out, fmt.Errorf("restic %s: %w: %s", args[0], err, strings.TrimSpace(lastLines(stderr.String(), 8)))
	}
	return out, nil
}

// ensure creates the repository, and its key, on first use. The key stays
// beside the repository with mode 0600; keep a copy of it somewhere else,
// or the media backups cannot be read.
func (r *restic) ensure(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(r.repo, "config")); err == nil {
		return nil
	}
	if _, err := os.Stat(r.passwordFile); errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		if err := atomicfile.Write(r.passwordFile, []byte(base64.RawURLEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return err
		}
	}
	_, err := r.run(ctx, "", "init")
	return err
}

// ensureCopyOf creates r, if it does not exist, with the chunker
// parameters of src, so that copying snapshots from src keeps their
// deduplication.
func (r *restic) ensureCopyOf(ctx context.Context, src *restic) error {
	if err := src.ensure(ctx); err != nil {
		return err
	}
	if _, err := r.run(ctx, "", "cat", "config"); err == nil {
		return nil
	}
	_, err := r.run(ctx, "", "init", "--copy-chunker-params", "--from-repo", src.repo, "--from-password-file", src.passwordFile)
	return err
}

var copiedRe = regexp.MustCompile(`snapshot ([0-9a-f]+) saved`)

// copyFrom copies one snapshot of src into r and returns its id in r.
func (r *restic) copyFrom(ctx context.Context, src *restic, snapshot string) (string, error) {
	out, err := r.run(ctx, "", "copy", "--from-repo", src.repo, "--from-password-file", src.passwordFile, snapshot)
	if err != nil {
		return "", err
	}
	m := copiedRe.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("restic copy of %s: no new snapshot id in its output", snapshot)
	}
	return string(m[1]), nil
}

// backupFile stores one file (path relative to dir) as a snapshot.
func (r *restic) backupFile(ctx context.Context, dir, path, id string) (string, error) {
	out, err := r.run(ctx, dir, "backup", "--json", "--host", r.host, "--tag", "muelle", "--tag", "id="+id, path)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var s resticSummary
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.MessageType == "summary" && s.SnapshotID != "" {
			return s.SnapshotID, nil
		}
	}
	return "", errors.New("restic backup: no summary in its output")
}

// restoreFile restores the file named name from a snapshot into dir and
// returns its path.
func (r *restic) restoreFile(ctx context.Context, snapshot, name, dir string) (string, error) {
	if _, err := r.run(ctx, "", "restore", snapshot, "--target", dir); err != nil {
		return "", err
	}
	var found string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("snapshot %s holds no %s", snapshot, name)
	}
	return found, nil
}

// has reports whether the repository holds the snapshot.
func (r *restic) has(ctx context.Context, snapshot string) bool {
	if _, err := os.Stat(r.repo); err != nil && !strings.Contains(r.repo, ":") {
		return false
	}
	_, err := r.run(ctx, "", "cat", "snapshot", snapshot)
	return err == nil
}

type resticSummary struct {
	MessageType         string `json:"message_type"`
	FilesNew            int64  `json:"files_new"`
	FilesChanged        int64  `json:"files_changed"`
	FilesUnmodified     int64  `json:"files_unmodified"`
	DataAdded           int64  `json:"data_added"`
	TotalFilesProcessed int64  `json:"total_files_processed"`
	TotalBytesProcessed int64  `json:"total_bytes_processed"`
	SnapshotID          string `json:"snapshot_id"`
}

// backup snapshots the directory path, tagged with the backup id.
func (r *restic) backup(ctx context.Context, path, id string) (*MediaPart, error) {
	if err := r.ensure(ctx); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(path); err != nil {
		return nil, fmt.Errorf("read media: %w", err)
	} else if len(entries) == 0 {
		// restic refuses empty snapshots; an empty media tree is recorded
		// as such, and restoring it empties the tree.
		return &MediaPart{Path: path}, nil
	}
	out, err := r.run(ctx, path, "backup", "--json", "--host", r.host, "--tag", "muelle", "--tag", "id="+id, ".")
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var s resticSummary
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.MessageType == "summary" && s.SnapshotID != "" {
			return &MediaPart{Snapshot: s.SnapshotID, Files: s.TotalFilesProcessed, Size: s.TotalBytesProcessed, Added: s.DataAdded, Path: path}, nil
		}
	}
	return nil, errors.New("restic backup: no summary in its output")
}

// restore replaces the contents of path with the snapshot. The snapshot is
// restored next to path first, so a failure leaves path as it was.
func (r *restic) restore(ctx context.Context, m *MediaPart, path string) error {
	if m.Snapshot == "" {
		return emptyDir(path)
	}
	staging, err := os.MkdirTemp(filepath.Dir(path), ".muelle-restore-")
	if err != nil {
		return fmt.Errorf("restore media: %w", err)
	}
	defer os.RemoveAll(staging)
	if _, err := r.run(ctx, "", "restore", m.Snapshot, "--target", staging); err != nil {
		return err
	}
	// A snapshot of "." holds the directory's contents at its root.
	restored := staging
	if err := emptyDir(path); err != nil {
		return err
	}
	entries, err := os.ReadDir(restored)
	if err != nil {
		return fmt.Errorf("restore media: %w", err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(restored, e.Name()), filepath.Join(path, e.Name())); err != nil {
			return fmt.Errorf("restore media: %w", err)
		}
	}
	return nil
}

// treeFingerprint hashes every entry's relative name, mode, size, inode,
// modification and change time. Writing a file changes its change time, so
// any edit changes the fingerprint.
func treeFingerprint(root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00%d", rel, info.Mode(), info.Size(), info.ModTime().UnixNano())
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(h, "\x00%d\x00%d.%d", st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
		}
		h.Write([]byte{'\n'})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read media: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func emptyDir(path string) error {
	old, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("restore media: %w", err)
	}
	for _, e := range old {
		if err := os.RemoveAll(filepath.Join(path, e.Name())); err != nil {
			return fmt.Errorf("restore media: %w", err)
		}
	}
	return nil
}

// check verifies the repository's structure and reads back every pack, so
// a damaged file in it is found.
func (r *restic) check(ctx context.Context, snapshot string) error {
	if snapshot == "" {
		return nil // an empty media tree: nothing stored
	}
	if _, err := r.run(ctx, "", "cat", "snapshot", snapshot); err != nil {
		return fmt.Errorf("media snapshot %s: %w", snapshot, err)
	}
	_, err := r.run(ctx, "", "check", "--read-data")
	return err
}

// forget removes snapshots and the data only they used.
func (r *restic) forget(ctx context.Context, snapshots []string) error {
	if len(snapshots) == 0 {
		return nil
	}
	_, err := r.run(ctx, "", append([]string{"forget", "--prune"}, snapshots...)...)
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
