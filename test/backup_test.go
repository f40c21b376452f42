//go:build docker

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// backupStack is the example app's production stack with its backups kept
// in a directory of the test's own.
func backupStack(t *testing.T) (*stack, string) {
	t.Helper()
	s := newStack(t)
	dir := filepath.Join(t.TempDir(), "backups")
	writeFile(t, filepath.Join(s.dir, "muelle.yaml"), "project: "+s.proj.Name+"\nbackup:\n  dir: "+dir+"\n")
	s.up()
	return s, dir
}

type catalogue struct {
	Backups []struct {
		ID string `json:"id"`
		DB *struct {
			File   string           `json:"file"`
			SHA256 string           `json:"sha256"`
			Size   int64            `json:"size"`
			Tables map[string]int64 `json:"tables"`
		} `json:"db"`
		Verified *time.Time `json:"verified"`
	} `json:"backups"`
}

func readCatalogue(t *testing.T, dir string) (catalogue, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "catalogue.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c catalogue
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c, raw
}

var backupIDRe = func(out string) string {
	f := strings.Fields(strings.TrimPrefix(out[strings.LastIndex(out, "backup "):], "backup "))
	return strings.TrimSuffix(f[0], ":")
}

// Back up, lose rows and an upload, restore: everything is back and the
// app serves the restored upload.
func TestBackupRestoreRoundTrip(t *testing.T) {
	s, dir := backupStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	content := "precious " + randomHex(t, 8)
	id1, upload := s.uploadPin("keep me", content)
	id2, _ := s.uploadPin("keep me too", "second file")
	out := muelle(t, "backup", s.dir)
	backupID := backupIDRe(out)

	// Disaster: the rows and the upload are gone, and a row appears that
	// the backup does not have.
	s.exec(ctx, "db", "psql", "-U", "app", "-d", "app", "-c", fmt.Sprintf("DELETE FROM board_pin WHERE id IN (%d, %d)", id1, id2))
	s.exec(ctx, "web", "sh", "-c", "rm -rf /srv/media/pins")
	s.uploadPin("written after the backup", "later")
	if resp, body := s.get(upload); resp.StatusCode == 200 && body == content {
		t.Fatalf("the upload is still served after deleting it")
	}

	out, err := muelleErr(t, "restore", backupID, "--dir", s.dir)
	if err == nil || !strings.Contains(out, "not confirmed; nothing was changed") {
		t.Fatalf("restore without --yes and no answer: got err=%v\n%s", err, out)
	}
	out = muelle(t, "restore", backupID, "--yes", "--dir", s.dir)
	if !strings.Contains(out, "restored "+backupID) {
		t.Fatalf("muelle restore:\n%s", out)
	}
	for _, id := range []int{id1, id2} {
		if resp, body := s.get(fmt.Sprintf("/api/pins/%d/", id)); resp.StatusCode != 200 {
			t.Errorf("pin %d after restore: got %d %s", id, resp.StatusCode, body)
		}
	}
	if resp, body := s.get(upload); resp.StatusCode != 200 || body != content {
		t.Errorf("upload after restore: got %d %q, want %q", resp.StatusCode, body, content)
	}
	_, body := s.get("/api/pins/")
	if !strings.Contains(body, `"count": 2`) {
		t.Errorf("pins after restore: got %s, want the 2 of the backup (the later one belongs to the safety backup)", body)
	}
	list := muelle(t, "backup", "list", s.dir)
	if !strings.Contains(list, backupID) || !strings.Contains(list, "pre-restore") {
		t.Errorf("backup list: want the backup and the safety backup taken before the restore:\n%s", list)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "deploy", "nginx", "maintenance.on")); !os.IsNotExist(err) {
		t.Errorf("the site is still in maintenance after the restore")
	}

	t.Run("a backup of another project is refused", func(t *testing.T) {
		c, raw := readCatalogue(t, dir)
		forged := strings.ReplaceAll(string(raw), `"project": "`+s.proj.Name+`"`, `"project": "someone-else"`)
		forged = strings.Replace(forged, `"project": "someone-else"`, `"project": "`+s.proj.Name+`"`, 1) // the catalogue's own
		writeFile(t, filepath.Join(dir, "catalogue.json"), forged)
		out, err := muelleErr(t, "restore", c.Backups[0].ID, "--yes", "--dir", s.dir)
		if err == nil || !strings.Contains(out, `belongs to project "someone-else"`) {
			t.Errorf("restore of a foreign backup: got err=%v\n%s", err, out)
		}
		writeFile(t, filepath.Join(dir, "catalogue.json"), string(raw))
	})
}

// verify passes on a good backup and fails on a flipped byte, a truncated
// file and a dump of the wrong database.
func TestBackupVerify(t *testing.T) {
	s, dir := backupStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	s.uploadPin("verify me", "data")
	backupID := backupIDRe(muelle(t, "backup", s.dir))

	out := muelle(t, "backup", "verify", backupID, "--dir", s.dir)
	if !strings.Contains(out, "verified") {
		t.Fatalf("verify of a good backup:\n%s", out)
	}
	c, raw := readCatalogue(t, dir)
	if c.Backups[0].Verified == nil {
		t.Error("the catalogue does not mark the backup verified")
	}
	if !strings.Contains(muelle(t, "backup", "list", s.dir), time.Now().UTC().Format("2006-01-02")) {
		t.Error("backup list does not show when it was verified")
	}
	dump := filepath.Join(dir, filepath.FromSlash(c.Backups[0].DB.File))
	good, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("flipped byte", func(t *testing.T) {
		bad := append([]byte(nil), good...)
		bad[len(bad)/2] ^= 0x01
		writeFile(t, dump, string(bad))
		out, err := muelleErr(t, "backup", "verify", backupID, "--dir", s.dir)
		if err == nil || !strings.Contains(out, "checksum does not match") {
			t.Errorf("got err=%v\n%s", err, out)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		writeFile(t, dump, string(good[:len(good)/3]))
		out, err := muelleErr(t, "backup", "verify", backupID, "--dir", s.dir)
		if err == nil || !strings.Contains(out, "failed verification") {
			t.Errorf("got err=%v\n%s", err, out)
		}
	})
	t.Run("dump of the wrong database", func(t *testing.T) {
		// A valid dump of another database, with a catalogue that vouches
		// for it: only restoring and counting can tell.
		s.exec(ctx, "db", "psql", "-U", "app", "-d", "postgres", "-c", "CREATE DATABASE other")
		s.exec(ctx, "db", "psql", "-U", "app", "-d", "other", "-c", "CREATE TABLE notes (id int); INSERT INTO notes VALUES (1)")
		other := s.exec(ctx, "db", "pg_dump", "--format=custom", "-U", "app", "-d", "other")
		writeFile(t, dump, other)
		sum, size := sha256Hex([]byte(other)), len(other)
		forged := strings.Replace(string(raw), c.Backups[0].DB.SHA256, sum, 1)
		forged = strings.Replace(forged, fmt.Sprintf(`"size": %d`, c.Backups[0].DB.Size), fmt.Sprintf(`"size": %d`, size), 1)
		writeFile(t, filepath.Join(dir, "catalogue.json"), forged)
		out, err := muelleErr(t, "backup", "verify", backupID, "--dir", s.dir)
		if err == nil || !strings.Contains(out, "table public.board_pin is missing") {
			t.Errorf("got err=%v\n%s", err, out)
		}
	})
}

// A backup while the database is down fails clearly and leaves nothing.
func TestBackupWithDatabaseDown(t *testing.T) {
	s, dir := backupStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	muelle(t, "backup", s.dir, "--db")
	_, before := readCatalogue(t, dir)
	dumpsBefore, _ := filepath.Glob(filepath.Join(dir, "db", "*"))

	s.proj.MustCompose(ctx, "stop", "db")
	out, err := muelleErr(t, "backup", s.dir)
	if err == nil || !strings.Contains(out, "the db service is not running") {
		t.Errorf("backup with the database down: got err=%v\n%s", err, out)
	}
	_, after := readCatalogue(t, dir)
	if string(after) != string(before) {
		t.Error("the catalogue changed after a failed backup")
	}
	dumpsAfter, _ := filepath.Glob(filepath.Join(dir, "db", "*"))
	hidden, _ := filepath.Glob(filepath.Join(dir, "db", ".*"))
	if len(dumpsAfter) != len(dumpsBefore) || len(hidden) != 0 {
		t.Errorf("files left behind: before %v, after %v, partial %v", dumpsBefore, dumpsAfter, hidden)
	}
}

// A second backup of an unchanged media tree reuses the first's snapshot;
// pruning the first keeps the snapshot the second needs.
func TestUnchangedMediaReusesSnapshot(t *testing.T) {
	s, dir := backupStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	content := "unchanged " + randomHex(t, 8)
	_, upload := s.uploadPin("still here", content)
	first := backupIDRe(muelle(t, "backup", s.dir, "--media"))
	second := backupIDRe(muelle(t, "backup", s.dir, "--media"))
	raw, err := os.ReadFile(filepath.Join(dir, "catalogue.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Backups []struct {
			ID    string `json:"id"`
			Media struct {
				Snapshot string `json:"snapshot"`
				Added    int64  `json:"added"`
			} `json:"media"`
		} `json:"backups"`
	}
	must(t, json.Unmarshal(raw, &c))
	if len(c.Backups) != 2 || c.Backups[0].Media.Snapshot == "" || c.Backups[1].Media.Snapshot != c.Backups[0].Media.Snapshot || c.Backups[1].Media.Added != 0 {
		t.Fatalf("two backups of an unchanged tree: got %+v, want the second to reuse the first's snapshot and add nothing", c.Backups)
	}
	writeFile(t, filepath.Join(s.dir, "muelle.yaml"), "project: "+s.proj.Name+"\nbackup:\n  dir: "+dir+"\n  keep:\n    last: 1\n")
	if out := muelle(t, "backup", "prune", s.dir); !strings.Contains(out, "removed "+first) {
		t.Fatalf("prune:\n%s", out)
	}
	s.exec(ctx, "web", "sh", "-c", "rm -rf /srv/media/pins")
	muelle(t, "restore", second, "--media", "--yes", "--dir", s.dir)
	if resp, body := s.get(upload); resp.StatusCode != 200 || body != content {
		t.Errorf("upload restored from the shared snapshot after pruning the first backup: got %d %q, want %q", resp.StatusCode, body, content)
	}
}
