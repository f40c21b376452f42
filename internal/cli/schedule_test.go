package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCronInstallWritesTheSchedule(t *testing.T) {
	dir := t.TempDir()
	yaml := "project: shop\nbackup:\n  dir: " + filepath.Join(dir, "b") + "\nschedule:\n  backup: \"@hourly\"\n  verify: \"off\"\n"
	if err := os.WriteFile(filepath.Join(dir, "muelle.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "cron.d", "muelle-shop")
	var out bytes.Buffer
	if code := run(context.Background(), []string{"cron", "install", dir, "--file", target}, nil, &out, &out); code != exitOK {
		t.Fatalf("cron install: exit %d\n%s", code, out.String())
	}
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{
		"@hourly root ", " schedule once backup --dir " + dir + " --project-name shop >> /var/log/muelle-shop.log 2>&1",
		"0 5 * * * root ", " schedule once prune ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("cron file lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "verify") {
		t.Errorf("the verify job is off but in the cron file:\n%s", got)
	}

	if err := os.WriteFile(filepath.Join(dir, "muelle.yaml"), []byte(yaml+"  prune: \"@every 1h\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"cron", "install", dir, "--print"}, nil, &out, &out); code == exitOK || !strings.Contains(out.String(), "cron has no @every") {
		t.Errorf("an @every schedule: got exit %d and %q, want a refusal", code, out.String())
	}
}
