package backup

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/muelle-dev/muelle/internal/atomicfile"
)

// catalogueVersion is the format of catalogue.json this muelle writes.
const catalogueVersion = 1

// Catalogue lists a project's backups.
type Catalogue struct {
	Version int     `json:"version"`
	Project string  `json:"project"`
	Backups []Entry `json:"backups"`
}

// Entry is one backup.
type Entry struct {
	ID      string    `json:"id"`
	Project string    `json:"project"`
	Created time.Time `json:"created"`
	// Release is the release that was serving when the backup was taken.
	Release string `json:"release"`
	// Reason says why it was taken: manual, pre-deploy, pre-restore, schedule.
	Reason string     `json:"reason"`
	DB     *DBPart    `json:"db,omitempty"`
	Media  *MediaPart `json:"media,omitempty"`
	// Verified is when the backup last passed `backup verify`.
	Verified *time.Time `json:"verified,omitempty"`
	// Offsite says where the offsite copy is, when there is one.
	Offsite *OffsitePart `json:"offsite,omitempty"`
}

// DBPart is the database half of a backup.
type DBPart struct {
	// File is the dump's path relative to the backup directory.
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Database and User are what was dumped.
	Database string `json:"database"`
	User     string `json:"user"`
	// Tables holds each table's row count, from the dump's own snapshot.
	Tables map[string]int64 `json:"tables"`
	// Migrations lists the applied Django migrations (app.name), in order.
	Migrations []string `json:"migrations"`
}

// MediaPart is the media half of a backup: a restic snapshot.
type MediaPart struct {
	Snapshot string `json:"snapshot"`
	Files    int64  `json:"files"`
	Size     int64  `json:"size"`
	// Added is what this backup added to the repository, in bytes.
	Added int64 `json:"added"`
	// Path is the directory that was backed up (the volume's data).
	Path string `json:"path"`
	// Tree fingerprints the tree's names, sizes, modes, inodes and change
	// times; an unchanged tree reuses the previous snapshot.
	Tree string `json:"tree,omitempty"`
}

// Kind names what the entry holds: db, media or db+media.
func (e Entry) Kind() string {
	switch {
	case e.DB != nil && e.Media != nil:
		return "db+media"
	case e.DB != nil:
		return "db"
	default:
		return "media"
	}
}

// Size is the entry's stored size: the dump plus what the media backup added.
func (e Entry) Size() int64 {
	var n int64
	if e.DB != nil {
		n += e.DB.Size
	}
	if e.Media != nil {
		n += e.Media.Added
	}
	return n
}

// Find returns the entry with the given id, or a unique prefix of one.
func (c *Catalogue) Find(id string) (*Entry, error) {
	var found *Entry
	for i := range c.Backups {
		b := &c.Backups[i]
		if b.ID == id {
			return b, nil
		}
		if len(id) >= 4 && len(b.ID) > len(id) && b.ID[:len(id)] == id {
			if found != nil {
				return nil, fmt.Errorf("backup id %q is ambiguous: give more of it", id)
			}
			found = b
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no backup %q in the catalogue of %s ('muelle backup list' shows them)", id, c.Project)
	}
	return found, nil
}

// Latest returns the newest entry, or an error when there is none.
func (c *Catalogue) Latest() (*Entry, error) {
	if len(c.Backups) == 0 {
		return nil, fmt.Errorf("%s has no backups yet", c.Project)
	}
	return &c.Backups[len(c.Backups)-1], nil
}

// Store is a project's backup directory.
type Store struct {
	Dir     string
	Project string
}

// ErrNewerFormat means the catalogue was written by a newer muelle.
var ErrNewerFormat = errors.New("catalogue written by a newer muelle")

func (s *Store) cataloguePath() string { return filepath.Join(s.Dir, "catalogue.json") }

// Load reads the catalogue; a missing one is empty.
func (s *Store) Load() (*Catalogue, error) {
	data, err := os.ReadFile(s.cataloguePath())
	if errors.Is(err, fs.ErrNotExist) {
		return &Catalogue{Version: catalogueVersion, Project: s.Project}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read backup catalogue: %w", err)
	}
	var c Catalogue
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("backup catalogue %s is damaged: %w", s.cataloguePath(), err)
	}
	if c.Version > catalogueVersion {
		return nil, fmt.Errorf("%s: %w (version %d; this muelle reads up to %d): upgrade muelle", s.cataloguePath(), ErrNewerFormat, c.Version, catalogueVersion)
	}
	if c.Project != s.Project {
		return nil, fmt.Errorf("%s belongs to project %q, not %q: check backup.dir in muelle.yaml", s.cataloguePath(), c.Project, s.Project)
	}
	return &c, nil
}

// Update changes the catalogue under an exclusive lock and saves it
// atomically.
func (s *Store) Update(fn func(*Catalogue) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.Load()
	if err != nil {
		return err
	}
	if err := fn(c); err != nil {
		return err
	}
	sort.SliceStable(c.Backups, func(i, j int) bool { return c.Backups[i].Created.Before(c.Backups[j].Created) })
	c.Version = catalogueVersion
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.cataloguePath(), append(data, '\n'), 0o600)
}

// lock takes the directory's lock file (flock), so two muelle processes
// never write the catalogue at once. The kernel drops it if muelle dies.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup lock: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// newID returns a sortable, unique backup id: UTC time plus randomness.
func newID(now time.Time) string {
	b := make([]byte, 2)
	rand.Read(b)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}
