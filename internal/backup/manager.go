package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Volumes finds where a Docker volume's data lives.
type Volumes interface {
	VolumeMountpoint(ctx context.Context, name string) (string, error)
}

// Services stops and starts the stack's services around a restore.
type Services interface {
	Stop(ctx context.Context, services ...string) error
	Start(ctx context.Context, services ...string) error
}

// Maintenance puts the site into maintenance (nginx answers 503 with a
// maintenance page) and takes it out again.
type Maintenance interface {
	On(ctx context.Context) error
	Off(ctx context.Context) error
}

// Manager takes and restores one project's backups.
type Manager struct {
	Store      *Store
	Containers Containers
	Volumes    Volumes
	DB         Database
	// MediaVolume is the Docker volume holding media files.
	MediaVolume string
	// WebServices are stopped while the database is replaced.
	WebServices []string
	// Offsite, when set, receives a copy of every backup.
	Offsite *Offsite
	Log     *slog.Logger
	Now     func() time.Time
}

// Options say what a backup holds and why it is taken.
type Options struct {
	DB, Media bool
	Reason    string
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) restic() *restic { return newRestic(m.Store.Dir, m.Store.Project) }

// release asks the running web container which release it serves.
func (m *Manager) release(ctx context.Context) string {
	var out bytes.Buffer
	if err := m.Containers.Exec(ctx, "web", nil, &out, "printenv", "MUELLE_RELEASE"); err != nil {
		return "unknown"
	}
	if r := strings.TrimSpace(out.String()); r != "" {
		return r
	}
	return "unknown"
}

// Backup takes a backup and records it in the catalogue. On failure nothing
// is recorded and no file is left behind.
func (m *Manager) Backup(ctx context.Context, opts Options) (*Entry, error) {
	if !opts.DB && !opts.Media {
		opts.DB, opts.Media = true, true
	}
	if opts.Reason == "" {
		opts.Reason = "manual"
	}
	now := m.now().UTC()
	e := Entry{ID: newID(now), Project: m.Store.Project, Created: now, Reason: opts.Reason, Release: m.release(ctx)}
	if opts.DB {
		start := time.Now()
		part, err := dumpDatabase(ctx, m.Containers, m.DB, m.Store.Dir, e.ID+".dump")
		if err != nil {
			return nil, fmt.Errorf("back up database %s: %w", m.DB.Name, err)
		}
		e.DB = part
		m.Log.Info("database backed up", "id", e.ID, "bytes", part.Size, "tables", len(part.Tables), "took", time.Since(start).Round(time.Millisecond))
	}
	if opts.Media {
		start := time.Now()
		part, err := m.backupMedia(ctx, e.ID)
		if err != nil {
			m.removeDump(&e)
			return nil, fmt.Errorf("back up media: %w", err)
		}
		e.Media = part
		m.Log.Info("media backed up", "id", e.ID, "files", part.Files, "bytes", part.Size, "added", part.Added, "took", time.Since(start).Round(time.Millisecond))
	}
	if err := m.Store.Update(func(c *Catalogue) error {
		c.Backups = append(c.Backups, e)
		return nil
	}); err != nil {
		m.removeDump(&e)
		return nil, err
	}
	if m.offsite() != nil {
		start := time.Now()
		if err := m.copyOffsite(ctx, &e); err != nil {
			return &e, fmt.Errorf("backup %s is stored locally, but its offsite copy failed: %w", e.ID, err)
		}
		m.Log.Info("offsite copy stored", "id", e.ID, "repository", e.Offsite.Repository, "took", time.Since(start).Round(time.Millisecond))
	}
	return &e, nil
}

func (m *Manager) backupMedia(ctx context.Context, id string) (*MediaPart, error) {
	path, err := m.Volumes.VolumeMountpoint(ctx, m.MediaVolume)
	if err != nil {
		return nil, fmt.Errorf("%w (has the stack been started with 'muelle up'?)", err)
	}
	tree, err := treeFingerprint(path)
	if err != nil {
		return nil, err
	}
	// The same check restic makes per file, made once for the whole tree:
	// when nothing changed since the last media backup, its snapshot is
	// this backup's too, and restic need not run at all.
	if c, err := m.Store.Load(); err == nil {
		for i := len(c.Backups) - 1; i >= 0; i-- {
			if prev := c.Backups[i].Media; prev != nil && prev.Path == path {
				if prev.Tree == tree && prev.Snapshot != "" {
					part := *prev
					part.Added = 0
					m.Log.Info("media unchanged since the last backup; its snapshot is reused", "snapshot", part.Snapshot, "from", c.Backups[i].ID)
					return &part, nil
				}
				break
			}
		}
	}
	part, err := m.restic().backup(ctx, path, id)
	if err != nil {
		return nil, err
	}
	part.Tree = tree
	return part, nil
}

func (m *Manager) removeDump(e *Entry) {
	if e.DB == nil {
		return
	}
	if err := os.Remove(filepath.Join(m.Store.Dir, filepath.FromSlash(e.DB.File))); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.Log.Warn("could not remove a dump", "file", e.DB.File, "err", err)
	}
}

// checkDump refuses a dump at path that is missing or whose checksum
// differs from the catalogue's.
func (m *Manager) checkDump(e *Entry, path string) (string, error) {
	sum, size, err := fileSHA256(path)
	if err != nil {
		return "", fmt.Errorf("backup %s: its database dump cannot be read: %w", e.ID, err)
	}
	if sum != e.DB.SHA256 || size != e.DB.Size {
		return "", fmt.Errorf("backup %s: the database dump's checksum does not match the catalogue (%d bytes, sha256 %s…; recorded %d bytes, %s…): the file is damaged or was replaced", e.ID, size, sum[:12], e.DB.Size, e.DB.SHA256[:12])
	}
	return path, nil
}

// RestoreOptions say what to restore.
type RestoreOptions struct {
	DB, Media bool
}

// Restore replaces the database and/or media files with those of backup id.
// It first takes a safety backup of the current state, puts the site into
// maintenance while the database is replaced, and brings it back after.
func (m *Manager) Restore(ctx context.Context, id string, opts RestoreOptions, svc Services, maint Maintenance) (*Entry, error) {
	c, err := m.Store.Load()
	if err != nil {
		return nil, err
	}
	e, err := c.Find(id)
	if err != nil {
		return nil, err
	}
	if e.Project != m.Store.Project {
		return nil, fmt.Errorf("backup %s belongs to project %q, not %q: refusing to restore it here", e.ID, e.Project, m.Store.Project)
	}
	if !opts.DB && !opts.Media {
		opts.DB, opts.Media = e.DB != nil, e.Media != nil
	}
	if opts.DB && e.DB == nil {
		return nil, fmt.Errorf("backup %s holds no database dump", e.ID)
	}
	if opts.Media && e.Media == nil {
		return nil, fmt.Errorf("backup %s holds no media files", e.ID)
	}
	var dump string
	if opts.DB {
		var cleanup func()
		if dump, cleanup, err = m.dumpFile(ctx, e); err != nil {
			return nil, err
		}
		defer cleanup()
	}
	// Maintenance first: a write acknowledged after the safety backup
	// would be lost without a trace.
	if err := maint.On(ctx); err != nil {
		return nil, err
	}
	safety, err := m.Backup(ctx, Options{DB: opts.DB, Media: opts.Media, Reason: "pre-restore"})
	if err != nil {
		if offErr := maint.Off(ctx); offErr != nil {
			err = errors.Join(err, offErr)
		}
		return nil, fmt.Errorf("safety backup before restoring (nothing was changed): %w", err)
	}
	m.Log.Info("safety backup taken", "id", safety.ID)
	restoreErr := m.restoreLocked(ctx, e, opts, dump, svc)
	if restoreErr != nil {
		return safety, fmt.Errorf("%w (the site stays in maintenance; the state before the restore is in backup %s)", restoreErr, safety.ID)
	}
	return safety, maint.Off(ctx)
}

func (m *Manager) restoreLocked(ctx context.Context, e *Entry, opts RestoreOptions, dump string, svc Services) error {
	if err := svc.Stop(ctx, m.WebServices...); err != nil {
		return err
	}
	if opts.DB {
		if err := restoreDatabase(ctx, m.Containers, m.DB, dump); err != nil {
			return fmt.Errorf("restore database: %w", err)
		}
	}
	if opts.Media {
		path, err := m.Volumes.VolumeMountpoint(ctx, m.MediaVolume)
		if err != nil {
			return err
		}
		repo, part, err := m.mediaSource(ctx, e)
		if err != nil {
			return err
		}
		if err := repo.restore(ctx, part, path); err != nil {
			return err
		}
	}
	return svc.Start(ctx, m.WebServices...)
}

// restoreDatabase replaces the database with the dump: drop, create, then
// pg_restore, so no table of a later release survives.
func restoreDatabase(ctx context.Context, c Containers, db Database, dump string) error {
	f, err := os.Open(dump)
	if err != nil {
		return err
	}
	defer f.Close()
	sql := fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE);
CREATE DATABASE %s OWNER %s;`, quoteIdent(db.Name), quoteIdent(db.Name), quoteIdent(db.User))
	if err := c.Exec(ctx, DBService, strings.NewReader(sql), io.Discard, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", db.User, "-d", "postgres"); err != nil {
		return dbError("recreate the database", err)
	}
	if err := c.Exec(ctx, DBService, f, io.Discard, "pg_restore", "--exit-on-error", "--no-owner", "--role="+db.User, "-U", db.User, "-d", db.Name); err != nil {
		return dbError("pg_restore", err)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
