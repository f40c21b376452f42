//go:build docker

package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// cleanup removes stale temporary files but not fresh ones, and release
// images beyond the newest kept; --dry-run removes nothing.
func TestCleanup(t *testing.T) {
	testutil.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	project := "mt-cleanup-" + randomHex(t, 3)
	dir := t.TempDir()
	backups := filepath.Join(dir, "backups")
	must(t, os.MkdirAll(filepath.Join(backups, "db"), 0o700))
	writeFile(t, filepath.Join(dir, "muelle.yaml"), fmt.Sprintf("project: %s\nbackup:\n  dir: %s\n", project, backups))
	stale := filepath.Join(backups, "db", ".x.dump.partial-1")
	fresh := filepath.Join(backups, "db", ".y.dump.partial-2")
	writeFile(t, stale, "half a dump")
	writeFile(t, fresh, "a dump being written")
	old := time.Now().Add(-2 * time.Hour)
	must(t, os.Chtimes(stale, old, old))

	var tags []string
	t.Cleanup(func() { exec.Command("docker", append([]string{"image", "rm", "--force"}, tags...)...).Run() })
	for i := 1; i <= 5; i++ {
		tag := fmt.Sprintf("%s-web:r%d", project, i)
		tags = append(tags, tag)
		build := exec.CommandContext(ctx, "docker", "build", "--quiet", "-t", tag, "-")
		build.Stdin = strings.NewReader(fmt.Sprintf("FROM muelle/debian:bookworm\nLABEL release=r%d\n", i))
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", tag, err, out)
		}
		time.Sleep(1100 * time.Millisecond) // image times have one-second resolution
	}
	present := func() string {
		out, _ := runCmd(ctx, "docker", "image", "ls", "--format", "{{.Tag}}", project+"-web")
		return strings.Join(strings.Fields(out), " ")
	}

	out := muelle(t, "cleanup", dir, "--dry-run", "--keep-images", "3", "--build-cache", "1000GB")
	for _, want := range []string{"would remove", stale, project + "-web:r1", project + "-web:r2"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run: want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, fresh) || strings.Contains(out, "-web:r3") {
		t.Errorf("dry run plans to remove a fresh temp file or a kept image:\n%s", out)
	}
	if _, err := os.Stat(stale); err != nil || present() != "r5 r4 r3 r2 r1" {
		t.Fatalf("dry run removed something: stale file %v, images %q", err, present())
	}

	out = muelle(t, "cleanup", dir, "--keep-images", "3", "--build-cache", "1000GB")
	if !strings.Contains(out, "freed ") {
		t.Errorf("cleanup does not say what it freed:\n%s", out)
	}
	if got := present(); got != "r5 r4 r3" {
		t.Errorf("release images after cleanup: got %q, want r5 r4 r3", got)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}
