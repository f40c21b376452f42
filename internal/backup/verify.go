package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/compose"
)

// VerifyImage is the PostgreSQL image of the throwaway verification server:
// the one the generated stack runs.
const VerifyImage = "postgres:15"

// Verify proves that backup id restores: its dump's checksum matches, it
// restores with pg_restore into a throwaway PostgreSQL server, every table
// recorded at backup time exists with the same row count, and Django's
// migration table matches; its media snapshot reads back whole. A backup
// that passes is marked verified.
func (m *Manager) Verify(ctx context.Context, id string) (*Entry, error) {
	c, err := m.Store.Load()
	if err != nil {
		return nil, err
	}
	var e *Entry
	if id == "" {
		e, err = c.Latest()
	} else {
		e, err = c.Find(id)
	}
	if err != nil {
		return nil, err
	}
	if e.DB != nil {
		start := time.Now()
		if err := m.verifyDB(ctx, e); err != nil {
			return e, fmt.Errorf("backup %s failed verification: %w", e.ID, err)
		}
		m.Log.Info("database dump verified", "id", e.ID, "tables", len(e.DB.Tables), "took", time.Since(start).Round(time.Millisecond))
	}
	if e.Media != nil {
		repo, part, err := m.mediaSource(ctx, e)
		if err != nil {
			return e, fmt.Errorf("backup %s failed verification: %w", e.ID, err)
		}
		if err := repo.check(ctx, part.Snapshot); err != nil {
			return e, fmt.Errorf("backup %s failed verification: media: %w", e.ID, err)
		}
	}
	now := m.now().UTC()
	err = m.Store.Update(func(c *Catalogue) error {
		stored, err := c.Find(e.ID)
		if err != nil {
			return err
		}
		stored.Verified = &now
		e = stored
		return nil
	})
	return e, err
}

const throwawayCompose = `services:
  pg:
    image: %s
    network_mode: none
    environment:
      POSTGRES_USER: %s
      POSTGRES_PASSWORD: %s
      POSTGRES_DB: %s
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U \"$$POSTGRES_USER\" -d \"$$POSTGRES_DB\""]
      interval: 1s
      retries: 120
    tmpfs:
      - /var/lib/postgresql/data
`

func (m *Manager) verifyDB(ctx context.Context, e *Entry) error {
	dump, cleanup, err := m.dumpFile(ctx, e)
	if err != nil {
		return err
	}
	defer cleanup()
	dir, err := os.MkdirTemp("", "muelle-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	password := make([]byte, 16)
	rand.Read(password)
	yaml := fmt.Sprintf(throwawayCompose, VerifyImage, quoteYAML(e.DB.User), hex.EncodeToString(password), quoteYAML(e.DB.Database))
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(yaml), 0o600); err != nil {
		return err
	}
	pg := compose.Project{Dir: dir, Files: []string{"compose.yaml"}, Name: "muelle-verify-" + hex.EncodeToString(suffix)}
	defer func() {
		// A fresh context: the throwaway server must go even if ctx ended.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pg.Run(cctx, io.Discard, io.Discard, "down", "--volumes", "--timeout", "1"); err != nil {
			m.Log.Warn("could not remove the throwaway verification server", "project", pg.Name, "err", err)
		}
	}()
	var out bytes.Buffer
	if err := pg.Run(ctx, &out, &out, "up", "--detach", "--wait", "--wait-timeout", "120"); err != nil {
		return fmt.Errorf("start a throwaway PostgreSQL: %w: %s", err, lastLines(out.String(), 10))
	}
	f, err := os.Open(dump)
	if err != nil {
		return err
	}
	defer f.Close()
	db := Database{Name: e.DB.Database, User: e.DB.User}
	if err := pg.Exec(ctx, "pg", f, io.Discard, "pg_restore", "--exit-on-error", "--no-owner", "-U", db.User, "-d", db.Name); err != nil {
		return fmt.Errorf("pg_restore: %w", err)
	}
	var counts bytes.Buffer
	if err := pg.Exec(ctx, "pg", strings.NewReader(countsSQL), &counts, "psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-U", db.User, "-d", db.Name); err != nil {
		return fmt.Errorf("count restored rows: %w", err)
	}
	tables, err := parseCounts(nonEmptyLines(counts.String()))
	if err != nil {
		return err
	}
	if problems := compareTables(e.DB.Tables, tables); len(problems) > 0 {
		return fmt.Errorf("the restored database differs from what was backed up: %s", strings.Join(problems, "; "))
	}
	if len(e.DB.Migrations) > 0 {
		var migs bytes.Buffer
		if err := pg.Exec(ctx, "pg", strings.NewReader("SELECT app || '.' || name FROM django_migrations ORDER BY id;"), &migs,
			"psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-U", db.User, "-d", db.Name); err != nil {
			return fmt.Errorf("read restored django_migrations: %w", err)
		}
		if got := nonEmptyLines(migs.String()); !slices.Equal(got, e.DB.Migrations) {
			return fmt.Errorf("the restored django_migrations (%d entries) differ from those recorded for release %s (%d entries)", len(got), e.Release, len(e.DB.Migrations))
		}
	}
	return nil
}

// compareTables lists every difference, sorted.
func compareTables(want, got map[string]int64) []string {
	var problems []string
	for name, n := range want {
		g, ok := got[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("table %s is missing", name))
		case g != n:
			problems = append(problems, fmt.Sprintf("table %s has %d rows, %d were backed up", name, g, n))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			problems = append(problems, fmt.Sprintf("table %s was not in the backed-up database", name))
		}
	}
	sort.Strings(problems)
	return problems
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
