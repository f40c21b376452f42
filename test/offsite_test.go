//go:build docker

package test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// s3Server is a real S3 protocol server (gofakes3, in memory) on loopback.
type s3Server struct {
	backend *s3mem.Backend
	url     string
}

func startS3(t *testing.T, bucket string) *s3Server {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(ts.Close)
	return &s3Server{backend: backend, url: ts.URL}
}

// count returns how many objects lie under prefix.
func (s *s3Server) count(t *testing.T, bucket, prefix string) int {
	t.Helper()
	p := gofakes3.NewPrefix(&prefix, nil)
	list, err := s.backend.ListBucket(bucket, &p, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Contents)
}

// Every backup is copied to S3; a restore works from the offsite copy alone
// once the local dumps and media repository are gone; prune removes
// offsite copies too.
func TestOffsiteBackupRestoreAndPrune(t *testing.T) {
	s3 := startS3(t, "backups")
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "backups")
	repo := "s3:" + s3.url + "/backups/" + s.proj.Name
	config := func(keep string) {
		writeFile(t, filepath.Join(s.dir, "muelle.yaml"), fmt.Sprintf("project: %s\nbackup:\n  dir: %s\n%s  offsite:\n    repository: %s\n", s.proj.Name, dir, keep, repo))
	}
	config("")
	env := filepath.Join(s.dir, ".env.production")
	data, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(env, append(data, []byte("AWS_ACCESS_KEY_ID=muelle-test\nAWS_SECRET_ACCESS_KEY=muelle-test-secret\n")...), 0o600))
	s.up()

	content := "offsite " + randomHex(t, 8)
	pinID, upload := s.uploadPin("far away", content)
	out := muelle(t, "backup", s.dir)
	backupID := backupIDRe(out)
	if n := s3.count(t, "backups", s.proj.Name+"/snapshots/"); n != 2 {
		t.Errorf("offsite snapshots after one backup: got %d, want 2 (dump and media)", n)
	}
	if list := muelle(t, "backup", "list", s.dir); !strings.Contains(list, "local + s3:") {
		t.Errorf("backup list does not show the offsite copy:\n%s", list)
	}

	// Lose the local copies and the data.
	must(t, os.RemoveAll(filepath.Join(dir, "db")))
	must(t, os.RemoveAll(filepath.Join(dir, "media-repo")))
	s.exec(ctx, "db", "psql", "-U", "app", "-d", "app", "-c", fmt.Sprintf("DELETE FROM board_pin WHERE id = %d", pinID))
	s.exec(ctx, "web", "sh", "-c", "rm -rf /srv/media/pins")

	out = muelle(t, "restore", backupID, "--yes", "--dir", s.dir)
	if !strings.Contains(out, "offsite copy") {
		t.Errorf("restore did not say it used the offsite copy:\n%s", out)
	}
	if resp, body := s.get(fmt.Sprintf("/api/pins/%d/", pinID)); resp.StatusCode != 200 {
		t.Errorf("pin after restoring from offsite: got %d %s", resp.StatusCode, body)
	}
	if resp, body := s.get(upload); resp.StatusCode != 200 || body != content {
		t.Errorf("upload after restoring from offsite: got %d %q, want %q", resp.StatusCode, body, content)
	}

	// The restore took a safety backup (also offsite, of an empty media
	// tree, so one snapshot). Keeping only the last backup removes the
	// first one's two snapshots everywhere.
	before := s3.count(t, "backups", s.proj.Name+"/snapshots/")
	config("  keep:\n    last: 1\n")
	out = muelle(t, "backup", "prune", s.dir)
	if !strings.Contains(out, "removed "+backupID) {
		t.Errorf("prune did not remove %s:\n%s", backupID, out)
	}
	if after := s3.count(t, "backups", s.proj.Name+"/snapshots/"); after != before-2 {
		t.Errorf("offsite snapshots: %d before prune, %d after, want %d", before, after, before-2)
	}
}
