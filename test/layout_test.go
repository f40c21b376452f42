//go:build docker

package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// A project laid out as many real ones are: manage.py one level down
// (src/), a settings package (pinboard/settings/base.py) and requirements
// split under requirements/ with -r includes. init's files alone bring it up.
func TestInitUpNestedLayout(t *testing.T) {
	testutil.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root := testutil.RepoRoot(t)
	repo := filepath.Join(t.TempDir(), "shop")
	src := filepath.Join(repo, "src")
	testutil.CopyDir(t, filepath.Join(root, "examples", "pinboard"), src)

	// settings.py becomes the package pinboard/settings/ with base.py.
	settings, err := os.ReadFile(filepath.Join(src, "pinboard", "settings.py"))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(settings), "Path(__file__).resolve().parent.parent", "Path(__file__).resolve().parent.parent.parent", 1)
	must(t, os.Remove(filepath.Join(src, "pinboard", "settings.py")))
	must(t, os.MkdirAll(filepath.Join(src, "pinboard", "settings"), 0o755))
	writeFile(t, filepath.Join(src, "pinboard", "settings", "__init__.py"), "from .base import *  # noqa\n")
	writeFile(t, filepath.Join(src, "pinboard", "settings", "base.py"), base)
	reqs, err := os.ReadFile(filepath.Join(src, "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.Remove(filepath.Join(src, "requirements.txt")))
	must(t, os.MkdirAll(filepath.Join(repo, "requirements"), 0o755))
	writeFile(t, filepath.Join(repo, "requirements", "base.txt"), string(reqs))
	writeFile(t, filepath.Join(repo, "requirements", "production.txt"), "-r base.txt  # shared\n")

	out := muelle(t, "init", repo)
	for _, want := range []string{"src/manage.py", "pinboard.settings.base", "requirements/production.txt"} {
		if !strings.Contains(out, want) {
			t.Errorf("muelle init: want %q in its report:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "muelle_settings", "production.py")); err != nil {
		t.Fatalf("production settings not next to manage.py: %v", err)
	}
	muelle(t, "env", "new", repo, "--host", "localhost", "--set", "HTTP_BIND=127.0.0.1:", "--set", "HTTPS_BIND=127.0.0.1:")
	s := &stack{t: t, dir: repo, proj: testutil.NewProject(t, repo)}
	s.proj.Files, s.proj.EnvFile = []string{"compose.prod.yaml"}, ".env.production"
	s.up()

	resp, body := s.get("/readyz")
	if resp.StatusCode != 200 {
		t.Errorf("GET /readyz: got %d %s, want 200", resp.StatusCode, body)
	}
	resp, body = s.get("/")
	if resp.StatusCode != 200 || !strings.Contains(body, "Pinboard") {
		t.Errorf("GET /: got %d, want 200 with the app's page", resp.StatusCode)
	}
	out = s.exec(ctx, "web", "python", "manage.py", "check", "--deploy", "--fail-level", "WARNING")
	if !strings.Contains(out, "no issues (0 silenced)") {
		t.Errorf("check --deploy:\n%s", out)
	}
}

// A service that never becomes healthy fails muelle up, which shows that
// service's last log lines.
func TestUpFailsWithTheUnhealthyServicesLogs(t *testing.T) {
	s := newStack(t)
	// The app fails to load under gunicorn (migrations still run), so web
	// never becomes healthy.
	wsgi := filepath.Join(s.dir, "pinboard", "wsgi.py")
	data, err := os.ReadFile(wsgi)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(wsgi, append(data, []byte("raise RuntimeError('pinboard refuses to start')\n")...), 0o644))
	out, err := muelleErr(t, "up", s.dir, "--project-name", s.proj.Name, "--timeout", "45s")
	if err == nil {
		t.Fatalf("muelle up succeeded with a broken web service:\n%s", out)
	}
	for _, want := range []string{"did not become healthy: web", "--- web:", "pinboard refuses to start"} {
		if !strings.Contains(out, want) {
			t.Errorf("muelle up output: want %q in it:\n%s", want, out)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
