package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/muelle-dev/muelle/internal/compose"
)

// Containers is what backups need from the running stack.
type Containers interface {
	Exec(ctx context.Context, service string, stdin io.Reader, stdout io.Writer, args ...string) error
}

// DBService is the compose service of the database.
const DBService = "db"

// Database names what to dump.
type Database struct {
	Name, User string
}

// countsSQL counts every user table's rows. Run inside the dump's snapshot,
// the counts are exactly what the dump holds.
const countsSQL = `SELECT format('%I.%I', schemaname, relname) || '|' ||
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, relname), false, true, '')))[1]::text
FROM pg_stat_user_tables ORDER BY 1;`

const endMarker = "--muelle-end--"

// session is a psql process in the db container, fed line by line.
type session struct {
	in     *os.File
	out    *bufio.Scanner
	done   chan error
	closed bool
}

// startSession starts psql. Its stdin is an OS pipe, not an io.Pipe: the
// exec package would otherwise wait for a stdin copy that only ends when we
// close it, while we wait for psql's output (a deadlock when psql or
// docker compose exits early).
func startSession(ctx context.Context, c Containers, db Database) (*session, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW := io.Pipe()
	s := &session{in: inW, out: bufio.NewScanner(outR), done: make(chan error, 1)}
	s.out.Buffer(make([]byte, 64*1024), 16*1024*1024)
	go func() {
		err := c.Exec(ctx, DBService, inR, outW, "psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-U", db.User, "-d", db.Name)
		inR.Close()
		outW.CloseWithError(io.EOF)
		s.done <- err
	}()
	return s, nil
}

// query sends SQL and returns the lines printed before the end marker.
func (s *session) query(sql string) ([]string, error) {
	if _, err := fmt.Fprintf(s.in, "%s\nSELECT '%s';\n", sql, endMarker); err != nil {
		return nil, s.fail(err)
	}
	var lines []string
	for s.out.Scan() {
		line := s.out.Text()
		if line == endMarker {
			return lines, nil
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	return nil, s.fail(io.ErrUnexpectedEOF)
}

// fail returns the psql process's own error when it ended, else err.
func (s *session) fail(err error) error {
	s.in.Close()
	if perr := <-s.done; perr != nil {
		s.closed = true
		return perr
	}
	s.closed = true
	return err
}

func (s *session) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.in.Close()
	return <-s.done
}

// dumpDatabase writes a pg_dump custom-format file of db to dir/name and
// records the row counts and migrations of the same snapshot. The file
// appears only when complete: it is written to a temporary name, fsynced,
// then renamed.
func dumpDatabase(ctx context.Context, c Containers, db Database, dir, name string) (*DBPart, error) {
	s, err := startSession(ctx, c, db)
	if err != nil {
		return nil, err
	}
	defer s.close()
	snap, err := s.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();")
	if err != nil {
		return nil, dbError("connect to the database", err)
	}
	if len(snap) != 1 {
		return nil, fmt.Errorf("export a snapshot: unexpected answer %q", snap)
	}
	rows, err := s.query(countsSQL)
	if err != nil {
		return nil, dbError("count rows", err)
	}
	tables, err := parseCounts(rows)
	if err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("database %s has no tables, so there is nothing to back up: is it the right database, and have the migrations run?", db.Name)
	}
	var migrations []string
	if _, ok := tables["public.django_migrations"]; ok {
		if migrations, err = s.query("SELECT app || '.' || name FROM django_migrations ORDER BY id;"); err != nil {
			return nil, dbError("read django_migrations", err)
		}
	}

	part := &DBPart{File: filepath.ToSlash(filepath.Join("db", name)), Database: db.Name, User: db.User, Tables: tables, Migrations: migrations}
	size, sum, err := writeAtomically(filepath.Join(dir, filepath.FromSlash(part.File)), func(w io.Writer) error {
		return c.Exec(ctx, DBService, nil, w, "pg_dump", "--format=custom", "--snapshot="+snap[0], "-U", db.User, "-d", db.Name)
	})
	if err != nil {
		return nil, dbError("pg_dump", err)
	}
	part.Size, part.SHA256 = size, sum
	if _, err := s.query("COMMIT;"); err != nil {
		return nil, dbError("end the snapshot", err)
	}
	return part, nil
}

func parseCounts(rows []string) (map[string]int64, error) {
	tables := make(map[string]int64, len(rows))
	for _, r := range rows {
		name, count, ok := strings.Cut(r, "|")
		n, err := strconv.ParseInt(count, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("count rows: unexpected line %q", r)
		}
		tables[name] = n
	}
	return tables, nil
}

// dbError explains the usual reasons a database step fails.
func dbError(step string, err error) error {
	var ee *compose.ExecError
	if errors.As(err, &ee) && ee.NotRunning() {
		return fmt.Errorf("%s: the %s service is not running; start the stack with 'muelle up': %w", step, DBService, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// writeAtomically streams write's output to path through a temporary file,
// computing its size and SHA-256; on any error nothing is left behind.
func writeAtomically(path string, write func(io.Writer) error) (int64, string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(tmp, h)}
	if err := write(cw); err != nil {
		return 0, "", err
	}
	if cw.n == 0 {
		return 0, "", errors.New("wrote nothing")
	}
	if err := tmp.Chmod(0o600); err != nil {
		return 0, "", err
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", err
	}
	if err := tmp.Close(); err != nil {
		return 0, "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, "", err
	}
	ok = true
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// fileSHA256 hashes a file.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
