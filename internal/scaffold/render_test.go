package scaffold

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muelle-dev/muelle/internal/django"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The generated files for the example app are compared with golden copies,
// so a change to a template shows up as a diff in review. Run
// `go test ./internal/scaffold -update` after an intended change.
func TestRenderGolden(t *testing.T) {
	p, err := django.Detect(filepath.Join("..", "..", "examples", "pinboard"), django.Hints{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "golden", "pinboard")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			path := filepath.Join(dir, filepath.FromSlash(f.Path))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.Path] = true
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%s: no golden file (run with -update): %v", f.Path, err)
			continue
		}
		if string(want) != string(f.Content) {
			diff, _ := unifiedDiff(f.Path, want, f.Content)
			t.Errorf("%s differs from its golden file (run with -update if intended):\n%s", f.Path, diff)
		}
	}
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if !seen[filepath.ToSlash(rel)] {
			t.Errorf("golden file %s is no longer generated (run with -update)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRenderAdaptsToTheProject(t *testing.T) {
	p := &django.Project{
		ManageDir:       "src",
		SettingsModule:  "config.settings.base",
		WSGIApplication: "config.wsgi:application",
		Requirements:    django.Requirements{Kind: "requirements", Path: "requirements/production.txt", Text: "Django>=4.2\ngunicorn==21.2\npsycopg[binary]>=3.1\n"},
		Name:            "My Shop",
	}
	files, err := Render(p, Options{PythonImage: "python:3.12-slim"})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]string{}
	for _, f := range files {
		byPath[f.Path] = string(f.Content)
	}
	checks := []struct{ file, want string }{
		{"Dockerfile", "ARG PYTHON_IMAGE=python:3.12-slim"},
		{"Dockerfile", "WORKDIR /app/src"},
		{"Dockerfile", "COPY requirements/ /tmp/requirements/requirements/"},
		{"Dockerfile", `"config.wsgi:application"`},
		{"src/muelle_settings/production.py", "from config.settings.base import *"},
		{"compose.prod.yaml", "${MUELLE_IMAGE:-${COMPOSE_PROJECT_NAME}-web:latest}"},
		{"compose.prod.yaml", "# Production stack of my-shop"},
		{"compose.yaml", "working_dir: /app/src"},
		{"deploy/requirements-muelle.txt", "django-redis>=5.2"},
	}
	for _, c := range checks {
		if !strings.Contains(byPath[c.file], c.want) {
			t.Errorf("%s: want it to contain %q", c.file, c.want)
		}
	}
	// The project already declares gunicorn and psycopg 3: not added again.
	for _, unwanted := range []string{"gunicorn", "psycopg2"} {
		if strings.Contains(byPath["deploy/requirements-muelle.txt"], unwanted) {
			t.Errorf("deploy/requirements-muelle.txt adds %s, which the project declares already", unwanted)
		}
	}
}
