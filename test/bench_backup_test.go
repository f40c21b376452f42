//go:build docker

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// Backups of a 500+ MB database and a 1+ GB media tree (many small files,
// some large), side by side with the bare tools in the same run: muelle
// backup --db against pg_dump -Fc, muelle restore --db against pg_restore,
// the first and second (unchanged) media backups against a plain tar.
func BenchmarkBackup(b *testing.B) {
	testutil.RequireDocker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	s, dir := benchStack(b)

	// A database of 500+ MB.
	s.proj.MustCompose(ctx, "exec", "-T", "db", "psql", "-q", "-U", "app", "-d", "app", "-c",
		"CREATE TABLE bench_rows AS SELECT g AS id, md5(g::text) AS h, repeat(md5((g * 7)::text), 6) AS payload FROM generate_series(1, 2500000) g")
	dbBytes := strings.TrimSpace(s.proj.MustCompose(ctx, "exec", "-T", "db", "psql", "-tA", "-U", "app", "-d", "app", "-c", "SELECT pg_database_size('app')"))

	// A media tree of 1+ GB: 20,000 small files and 6 large ones.
	mp := strings.TrimSpace(mustRun(b, ctx, "docker", "volume", "inspect", "--format", "{{.Mountpoint}}", s.proj.Name+"_media"))
	mediaBytes := generateMedia(b, mp)

	var r map[string]float64
	for b.Loop() {
		r = map[string]float64{}
		// Warm the page cache first, then alternate muelle and the bare tool
		// and keep each one's best of two, so neither pays for the cold start.
		pgDump := func() {
			mustRun(b, ctx, "sh", "-c", fmt.Sprintf("docker compose -p %[1]s --project-directory %[2]s -f compose.prod.yaml --env-file %[2]s/.env.production exec -T db pg_dump -Fc -U app -d app > %[3]s/bare.dump", s.proj.Name, s.dir, dir))
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		pgDump()
		r["muelle-db-backup-s"], r["pg_dump-s"] = 1e9, 1e9
		for range 2 {
			r["muelle-db-backup-s"] = min(r["muelle-db-backup-s"], timeIt(b, func() { muelleB(b, "backup", s.dir, "--db") }))
			r["pg_dump-s"] = min(r["pg_dump-s"], timeIt(b, pgDump))
		}
		id := latestBackup(b, dir)
		r["muelle-restore-db-s"] = timeIt(b, func() { muelleB(b, "restore", id, "--db", "--yes", "--dir", s.dir) })
		r["pg_restore-s"] = timeIt(b, func() {
			mustRun(b, ctx, "sh", "-c", fmt.Sprintf(
				"docker compose -p %[1]s --project-directory %[2]s -f compose.prod.yaml --env-file %[2]s/.env.production exec -T db psql -q -U app -d postgres -c 'CREATE DATABASE bare' && "+
					"docker compose -p %[1]s --project-directory %[2]s -f compose.prod.yaml --env-file %[2]s/.env.production exec -T db pg_restore --no-owner -U app -d bare < %[3]s/bare.dump", s.proj.Name, s.dir, dir))
		})
		r["media-first-s"] = timeIt(b, func() { muelleB(b, "backup", s.dir, "--media") })
		first := mediaAdded(b, dir)
		r["media-second-s"] = timeIt(b, func() { muelleB(b, "backup", s.dir, "--media") })
		second := mediaAdded(b, dir)
		r["tar-s"] = timeIt(b, func() { mustRun(b, ctx, "tar", "-cf", filepath.Join(dir, "media.tar"), "-C", mp, ".") })
		r["media-second-added-ratio"] = float64(second) / float64(first)
	}
	r["db-backup-ratio"] = r["muelle-db-backup-s"] / r["pg_dump-s"]
	r["restore-ratio"] = r["muelle-restore-db-s"] / r["pg_restore-s"]
	r["media-second/first"] = r["media-second-s"] / r["media-first-s"]
	r["media-first/tar"] = r["media-first-s"] / r["tar-s"]
	r["media-second/tar"] = r["media-second-s"] / r["tar-s"]
	var n int64
	fmt.Sscan(dbBytes, &n)
	r["db-MB"] = float64(n) / 1e6
	r["media-MB"] = float64(mediaBytes) / 1e6
	for k, v := range r {
		b.ReportMetric(v, k)
	}
}

func benchStack(b *testing.B) (*stack, string) {
	b.Helper()
	root := testutil.RepoRoot(b)
	work := b.TempDir()
	dir := filepath.Join(work, "pinboard")
	testutil.CopyDir(b, filepath.Join(root, "examples", "pinboard"), dir)
	s := &stack{dir: dir, proj: testutil.NewProject(b, dir)}
	s.proj.Files, s.proj.EnvFile = []string{"compose.prod.yaml"}, ".env.production"
	backups := filepath.Join(work, "backups")
	muelleB(b, "init", dir)
	muelleB(b, "env", "new", dir, "--host", "localhost", "--set", "HTTP_BIND=127.0.0.1:", "--set", "HTTPS_BIND=127.0.0.1:")
	writeFileB(b, filepath.Join(dir, "muelle.yaml"), "project: "+s.proj.Name+"\nbackup:\n  dir: "+backups+"\n")
	muelleB(b, "up", dir)
	return s, backups
}

func generateMedia(b *testing.B, root string) int64 {
	b.Helper()
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	var total int64
	buf := make([]byte, 100<<20)
	write := func(path string, size int) {
		for i := 0; i < size; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < size; j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(size)
	}
	for i := 0; i < 20000; i++ {
		write(filepath.Join(root, "small", fmt.Sprintf("%03d", i/200), fmt.Sprintf("f%05d.bin", i)), 4<<10+rng.IntN(36<<10))
	}
	for i := 0; i < 6; i++ {
		write(filepath.Join(root, "large", fmt.Sprintf("video%d.bin", i)), 100<<20)
	}
	return total
}

func timeIt(b *testing.B, f func()) float64 {
	b.Helper()
	start := time.Now()
	f()
	return time.Since(start).Seconds()
}

func muelleB(b *testing.B, args ...string) string {
	b.Helper()
	out, err := exec.Command(muelleBin, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("muelle %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func mustRun(b *testing.B, ctx context.Context, name string, args ...string) string {
	b.Helper()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func writeFileB(b *testing.B, path, content string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

func readBenchCatalogue(b *testing.B, dir string) []struct {
	ID    string `json:"id"`
	Media *struct {
		Added int64 `json:"added"`
	} `json:"media"`
} {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "catalogue.json"))
	if err != nil {
		b.Fatal(err)
	}
	var c struct {
		Backups []struct {
			ID    string `json:"id"`
			Media *struct {
				Added int64 `json:"added"`
			} `json:"media"`
		} `json:"backups"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		b.Fatal(err)
	}
	return c.Backups
}

func latestBackup(b *testing.B, dir string) string {
	bs := readBenchCatalogue(b, dir)
	return bs[len(bs)-1].ID
}

func mediaAdded(b *testing.B, dir string) int64 {
	bs := readBenchCatalogue(b, dir)
	if m := bs[len(bs)-1].Media; m != nil {
		return m.Added
	}
	return 0
}
