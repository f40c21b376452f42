package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Offsite is a second, remote copy of every backup: a restic repository on
// S3-compatible storage (or any backend restic speaks: sftp, B2, Azure,
// GCS, rest-server), encrypted with the same key as the local one.
type Offsite struct {
	// Repository is a restic repository URL, e.g. s3:https://host/bucket/path.
	Repository string
	// Env holds the backend's credentials, e.g. AWS_ACCESS_KEY_ID.
	Env []string
}

// OffsitePart records where a backup's offsite copy is.
type OffsitePart struct {
	Repository    string `json:"repository"`
	DBSnapshot    string `json:"db_snapshot,omitempty"`
	MediaSnapshot string `json:"media_snapshot,omitempty"`
}

// CredentialPrefixes are the environment variables handed to restic for
// the offsite backend.
var CredentialPrefixes = []string{"AWS_", "B2_", "AZURE_", "GOOGLE_", "OS_", "ST_"}

func (m *Manager) offsite() *restic {
	if m.Offsite == nil || m.Offsite.Repository == "" {
		return nil
	}
	local := m.restic()
	return &restic{
		repo:         m.Offsite.Repository,
		passwordFile: local.passwordFile,
		cacheDir:     local.cacheDir,
		host:         local.host,
		env:          m.Offsite.Env,
	}
}

// copyOffsite copies a backup that is in the catalogue to the offsite
// repository and records where.
func (m *Manager) copyOffsite(ctx context.Context, e *Entry) error {
	off := m.offsite()
	if err := off.ensureCopyOf(ctx, m.restic()); err != nil {
		return err
	}
	part := &OffsitePart{Repository: redactURL(off.repo)}
	if e.DB != nil {
		snap, err := off.backupFile(ctx, m.Store.Dir, e.DB.File, e.ID)
		if err != nil {
			return fmt.Errorf("database dump: %w", err)
		}
		part.DBSnapshot = snap
	}
	if e.Media != nil && e.Media.Snapshot != "" {
		if prev := m.offsiteCopyOf(e); prev != "" {
			part.MediaSnapshot = prev // a reused snapshot is offsite already
		} else {
			snap, err := off.copyFrom(ctx, m.restic(), e.Media.Snapshot)
			if err != nil {
				return fmt.Errorf("media: %w", err)
			}
			part.MediaSnapshot = snap
		}
	}
	return m.Store.Update(func(c *Catalogue) error {
		stored, err := c.Find(e.ID)
		if err != nil {
			return err
		}
		stored.Offsite = part
		*e = *stored
		return nil
	})
}

// offsiteCopyOf returns the offsite snapshot of another backup that shares
// e's media snapshot, if any.
func (m *Manager) offsiteCopyOf(e *Entry) string {
	c, err := m.Store.Load()
	if err != nil {
		return ""
	}
	for _, o := range c.Backups {
		if o.ID != e.ID && o.Media != nil && o.Media.Snapshot == e.Media.Snapshot && o.Offsite != nil && o.Offsite.MediaSnapshot != "" {
			return o.Offsite.MediaSnapshot
		}
	}
	return ""
}

// dumpFile returns a readable copy of the backup's dump whose checksum
// matches the catalogue: the local file, or else the offsite copy fetched
// into a temporary directory (removed by the returned cleanup).
func (m *Manager) dumpFile(ctx context.Context, e *Entry) (string, func(), error) {
	noop := func() {}
	local := filepath.Join(m.Store.Dir, filepath.FromSlash(e.DB.File))
	if _, err := os.Stat(local); err == nil || e.Offsite == nil || e.Offsite.DBSnapshot == "" || m.offsite() == nil {
		path, err := m.checkDump(e, local)
		return path, noop, err
	}
	tmp, err := os.MkdirTemp(m.Store.Dir, ".offsite-")
	if err != nil {
		return "", noop, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	m.Log.Info("the local dump is gone; fetching the offsite copy", "id", e.ID, "snapshot", e.Offsite.DBSnapshot)
	path, err := m.offsite().restoreFile(ctx, e.Offsite.DBSnapshot, filepath.Base(e.DB.File), tmp)
	if err != nil {
		cleanup()
		return "", noop, fmt.Errorf("fetch the offsite dump: %w", err)
	}
	if _, err := m.checkDump(e, path); err != nil {
		cleanup()
		return "", noop, err
	}
	return path, cleanup, nil
}

// mediaSource returns the repository and snapshot holding the backup's
// media: the local repository, or else the offsite one.
func (m *Manager) mediaSource(ctx context.Context, e *Entry) (*restic, *MediaPart, error) {
	local := m.restic()
	if e.Media.Snapshot == "" || local.has(ctx, e.Media.Snapshot) {
		return local, e.Media, nil
	}
	if off := m.offsite(); off != nil && e.Offsite != nil && e.Offsite.MediaSnapshot != "" {
		m.Log.Info("the local media snapshot is gone; using the offsite copy", "id", e.ID, "snapshot", e.Offsite.MediaSnapshot)
		part := *e.Media
		part.Snapshot = e.Offsite.MediaSnapshot
		return off, &part, nil
	}
	return nil, nil, fmt.Errorf("backup %s: media snapshot %s is not in the local repository and there is no offsite copy", e.ID, e.Media.Snapshot)
}

// forgetOffsite removes the offsite copies of removed backups that no kept
// backup shares.
func (m *Manager) forgetOffsite(ctx context.Context, removed, kept []Entry) error {
	off := m.offsite()
	if off == nil {
		return nil
	}
	inUse := map[string]bool{}
	for _, e := range kept {
		if e.Offsite != nil {
			inUse[e.Offsite.DBSnapshot], inUse[e.Offsite.MediaSnapshot] = true, true
		}
	}
	var snaps []string
	for _, e := range removed {
		if e.Offsite != nil {
			for _, s := range []string{e.Offsite.DBSnapshot, e.Offsite.MediaSnapshot} {
				if s != "" && !inUse[s] && !slices.Contains(snaps, s) {
					snaps = append(snaps, s)
				}
			}
		}
	}
	if err := off.forget(ctx, snaps); err != nil {
		return fmt.Errorf("offsite: %w", err)
	}
	return nil
}

// redactURL drops credentials a repository URL may carry (user:pass@).
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.Index(rest, "@"); at >= 0 && (strings.Index(rest, "/") < 0 || at < strings.Index(rest, "/")) {
			return u[:i+3] + "***@" + rest[at+1:]
		}
	}
	return u
}
