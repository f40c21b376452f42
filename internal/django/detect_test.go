package django

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantProject is what a successful Detect should find. Root is checked
// against the fixture directory; Requirements.Text is not compared.
type wantProject struct {
	ManageDir       string
	SettingsModule  string
	SettingsFile    string
	WSGIApplication string
	ReqKind         string
	ReqPath         string
	HasStaticRoot   bool
	HasMediaRoot    bool
	Name            string
	// Declares maps distribution names to the expected Requirements.Declares.
	Declares map[string]bool
}

func checkProject(t *testing.T, root string, got *Project, want wantProject) {
	t.Helper()
	if got == nil {
		t.Fatalf("got nil project, want one")
	}
	str := []struct{ field, got, want string }{
		{"Root", got.Root, root},
		{"ManageDir", got.ManageDir, want.ManageDir},
		{"SettingsModule", got.SettingsModule, want.SettingsModule},
		{"SettingsFile", got.SettingsFile, want.SettingsFile},
		{"WSGIApplication", got.WSGIApplication, want.WSGIApplication},
		{"Requirements.Kind", got.Requirements.Kind, want.ReqKind},
		{"Requirements.Path", got.Requirements.Path, want.ReqPath},
		{"Name", got.Name, want.Name},
	}
	for _, c := range str {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.field, c.got, c.want)
		}
	}
	if got.HasStaticRoot != want.HasStaticRoot {
		t.Errorf("HasStaticRoot: got %v, want %v", got.HasStaticRoot, want.HasStaticRoot)
	}
	if got.HasMediaRoot != want.HasMediaRoot {
		t.Errorf("HasMediaRoot: got %v, want %v", got.HasMediaRoot, want.HasMediaRoot)
	}
	if got.Requirements.Text == "" {
		t.Errorf("Requirements.Text: got empty, want the file's content")
	}
	for name, w := range want.Declares {
		if g := got.Requirements.Declares(name); g != w {
			t.Errorf("Requirements.Declares(%q): got %v, want %v", name, g, w)
		}
	}
}

func TestDetectLayouts(t *testing.T) {
	tests := []struct {
		name  string
		dir   string
		hints Hints
		want  wantProject
	}{
		{
			name: "flat",
			dir:  "flat",
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "mysite.settings",
				SettingsFile:    "mysite/settings.py",
				WSGIApplication: "mysite.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements.txt",
				HasStaticRoot:   true,
				HasMediaRoot:    false,
				Name:            "mysite",
				Declares: map[string]bool{
					"django":          true,
					"Django":          true,
					"gunicorn":        true,
					"psycopg2-binary": true,
					"psycopg2":        false,
					"django-redis":    false,
				},
			},
		},
		{
			name: "nested manage.py, requirements at repo root",
			dir:  "nested",
			want: wantProject{
				ManageDir:       "src",
				SettingsModule:  "shop.settings",
				SettingsFile:    "src/shop/settings.py",
				WSGIApplication: "shop.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements.txt",
				HasStaticRoot:   true,
				HasMediaRoot:    true,
				Name:            "shop",
				Declares: map[string]bool{
					"django":   true,
					"psycopg":  true,
					"psycopg2": false,
					"gunicorn": false,
				},
			},
		},
		{
			name: "cookiecutter-django",
			dir:  "cookiecutter",
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "config.settings.base",
				SettingsFile:    "config/settings/base.py",
				WSGIApplication: "config.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements/production.txt",
				HasStaticRoot:   true,
				HasMediaRoot:    false,
				Name:            "cookiecutter",
				Declares: map[string]bool{
					"django-redis": true, // via -r base.txt
					"django":       true, // via -r base.txt
					"gunicorn":     true,
					"psycopg":      true,
					"psycopg2":     false,
					"pytest":       false, // only in local.txt
				},
			},
		},
		{
			name: "pyproject",
			dir:  "pyproject",
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "blog.settings",
				SettingsFile:    "blog/settings.py",
				WSGIApplication: "blog.wsgi:application",
				ReqKind:         "pyproject",
				ReqPath:         "pyproject.toml",
				HasStaticRoot:   true,
				Name:            "blog",
				Declares: map[string]bool{
					"gunicorn":        true,
					"django":          true,
					"psycopg2-binary": true,
					"psycopg2":        false,
					"django-redis":    false,
				},
			},
		},

		// Hints override detection.
		{
			name:  "hint --settings overrides the base preference",
			dir:   "cookiecutter",
			hints: Hints{SettingsModule: "config.settings.production"},
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "config.settings.production",
				SettingsFile:    "config/settings/production.py",
				WSGIApplication: "config.wsgi:application", // from sibling base.py
				ReqKind:         "requirements",
				ReqPath:         "requirements/production.txt",
				HasStaticRoot:   true,
				Name:            "cookiecutter",
			},
		},
		{
			name:  "hint --settings supplies what manage.py lacks",
			dir:   "nosettingsenv",
			hints: Hints{SettingsModule: "mysite.settings"},
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "mysite.settings",
				SettingsFile:    "mysite/settings.py",
				WSGIApplication: "mysite.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements.txt",
				HasStaticRoot:   true,
				Name:            "mysite",
			},
		},
		{
			name:  "hint --manage-dir chooses among several",
			dir:   "twomanage",
			hints: Hints{ManageDir: "legacy"},
			want: wantProject{
				ManageDir:       "legacy",
				SettingsModule:  "legacy.settings",
				SettingsFile:    "legacy/legacy/settings.py",
				WSGIApplication: "legacy.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements.txt",
				HasStaticRoot:   true,
				Name:            "legacy",
			},
		},
		{
			name:  "hint --manage-dir is cleaned",
			dir:   "twomanage",
			hints: Hints{ManageDir: "./backend/"},
			want: wantProject{
				ManageDir:       "backend",
				SettingsModule:  "api.settings",
				SettingsFile:    "backend/api/settings.py",
				WSGIApplication: "api.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements.txt",
				HasStaticRoot:   true,
				Name:            "api",
			},
		},
		{
			name:  "hint --requirements overrides detection and follows -r",
			dir:   "cookiecutter",
			hints: Hints{Requirements: "requirements/local.txt"},
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "config.settings.base",
				SettingsFile:    "config/settings/base.py",
				WSGIApplication: "config.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements/local.txt",
				HasStaticRoot:   true,
				Name:            "cookiecutter",
				Declares: map[string]bool{
					"django-redis": true, // via -r base.txt
					"pytest":       true,
					"gunicorn":     false, // only in production.txt
				},
			},
		},
		{
			name:  "hint --requirements supplies a missing file",
			dir:   "norequirements",
			hints: Hints{Requirements: "./deps/web.txt"},
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "mysite.settings",
				SettingsFile:    "mysite/settings.py",
				WSGIApplication: "mysite.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "deps/web.txt",
				HasStaticRoot:   true,
				Name:            "mysite",
				Declares:        map[string]bool{"gunicorn": true},
			},
		},
		{
			name:  "hint --wsgi overrides WSGI_APPLICATION",
			dir:   "flat",
			hints: Hints{WSGIApplication: "mysite.wsgi:app"},
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "mysite.settings",
				SettingsFile:    "mysite/settings.py",
				WSGIApplication: "mysite.wsgi:app",
				ReqKind:         "requirements",
				ReqPath:         "requirements.txt",
				HasStaticRoot:   true,
				Name:            "mysite",
			},
		},
		{
			name:  "hint --wsgi supplies a missing WSGI_APPLICATION",
			dir:   "nowsgi",
			hints: Hints{WSGIApplication: "mysite.wsgi:application"},
			want: wantProject{
				ManageDir:       ".",
				SettingsModule:  "mysite.settings",
				SettingsFile:    "mysite/settings.py",
				WSGIApplication: "mysite.wsgi:application",
				ReqKind:         "requirements",
				ReqPath:         "requirements.txt",
				HasStaticRoot:   true,
				Name:            "mysite",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join("testdata", tt.dir)
			got, err := Detect(root, tt.hints)
			if err != nil {
				t.Fatalf("Detect(%s, %+v): got error %v, want none", root, tt.hints, err)
			}
			checkProject(t, root, got, tt.want)
		})
	}
}

func TestDetectFailures(t *testing.T) {
	tests := []struct {
		name  string
		dir   string // under testdata; "" means a fresh empty directory
		hints Hints
		// wantProblems lists, per expected problem, substrings that problem
		// must contain. The number of problems must match.
		wantProblems [][]string
	}{
		{
			name:         "empty directory",
			wantProblems: [][]string{{"manage.py", "--manage-dir"}},
		},
		{
			name:         "manage.py in two subdirectories",
			dir:          "twomanage",
			wantProblems: [][]string{{"backend", "legacy", "--manage-dir"}},
		},
		{
			name:         "--manage-dir without manage.py",
			dir:          "flat",
			hints:        Hints{ManageDir: "mysite"},
			wantProblems: [][]string{{"--manage-dir mysite", "manage.py"}},
		},
		{
			name: "manage.py without DJANGO_SETTINGS_MODULE",
			dir:  "nosettingsenv",
			// Without settings there is no WSGI_APPLICATION to read either.
			wantProblems: [][]string{{"DJANGO_SETTINGS_MODULE", "--settings"}, {"WSGI_APPLICATION", "--wsgi"}},
		},
		{
			name:         "--settings naming no file",
			dir:          "flat",
			hints:        Hints{SettingsModule: "mysite.nope"},
			wantProblems: [][]string{{"mysite.nope", "--settings"}, {"WSGI_APPLICATION", "--wsgi"}},
		},
		{
			name:         "no requirements",
			dir:          "norequirements",
			wantProblems: [][]string{{"requirements.txt", "pyproject.toml", "--requirements"}},
		},
		{
			name:         "--requirements naming no file",
			dir:          "flat",
			hints:        Hints{Requirements: "requirements/missing.txt"},
			wantProblems: [][]string{{"--requirements requirements/missing.txt"}},
		},
		{
			name:         "no WSGI_APPLICATION",
			dir:          "nowsgi",
			wantProblems: [][]string{{"WSGI_APPLICATION", "--wsgi"}},
		},
		{
			name:         "no requirements and no WSGI_APPLICATION at once",
			dir:          "norequirements_nowsgi",
			wantProblems: [][]string{{"--wsgi"}, {"--requirements"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.dir != "" {
				root = filepath.Join("testdata", tt.dir)
			}
			p, err := Detect(root, tt.hints)
			if err == nil {
				t.Fatalf("Detect(%s, %+v): got project %+v, want an error", root, tt.hints, p)
			}
			if p != nil {
				t.Errorf("got project %+v alongside the error, want nil", p)
			}
			var missing *MissingError
			if !errors.As(err, &missing) {
				t.Fatalf("got error %T %v, want a *MissingError", err, err)
			}
			if len(missing.Problems) != len(tt.wantProblems) {
				t.Fatalf("got %d problems %q, want %d", len(missing.Problems), missing.Problems, len(tt.wantProblems))
			}
			for i, subs := range tt.wantProblems {
				for _, s := range subs {
					if !strings.Contains(missing.Problems[i], s) {
						t.Errorf("problem %d: got %q, want it to mention %q", i, missing.Problems[i], s)
					}
				}
				if !strings.Contains(err.Error(), missing.Problems[i]) {
					t.Errorf("Error(): got %q, want it to list %q", err.Error(), missing.Problems[i])
				}
			}
		})
	}
}

func TestDetectBadRoot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "manage.py")
	if err := os.WriteFile(file, []byte("# not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, root, want string
	}{
		{"missing directory", filepath.Join("testdata", "does-not-exist"), "project directory"},
		{"a file, not a directory", file, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Detect(tt.root, Hints{})
			if err == nil {
				t.Fatalf("got no error, want one mentioning %q", tt.want)
			}
			var missing *MissingError
			if errors.As(err, &missing) {
				t.Errorf("got *MissingError %v, want a plain error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRequirementsDeclares(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		names []string
		want  bool
	}{
		{"exact name", "gunicorn\n", []string{"gunicorn"}, true},
		{"case-insensitive with specifier", "Django>=3.2\n", []string{"django"}, true},
		{"query case-insensitive", "django>=3.2\n", []string{"Django"}, true},
		{"underscore matches hyphen", "django_redis==5.2\n", []string{"django-redis"}, true},
		{"hyphen matches underscore query", "django-redis==5.2\n", []string{"django_redis"}, true},
		{"dot matches hyphen", "zope.interface==6.0\n", []string{"zope-interface"}, true},
		{"psycopg2-binary declares itself", "psycopg2-binary==2.9.9\n", []string{"psycopg2-binary"}, true},
		{"psycopg2-binary is not psycopg2", "psycopg2-binary==2.9.9\n", []string{"psycopg2"}, false},
		{"psycopg2-binary is not psycopg", "psycopg2-binary==2.9.9\n", []string{"psycopg"}, false},
		{"psycopg2 is not psycopg2-binary", "psycopg2==2.9.9\n", []string{"psycopg2-binary"}, false},
		{"django-redis is not django", "django-redis==5.2\n", []string{"django"}, false},
		{"django-redis is not redis", "django-redis==5.2\n", []string{"redis"}, false},
		{"djangorestframework is not django", "djangorestframework==3.15\n", []string{"django"}, false},
		{"extras", "psycopg[binary]>=3.1\n", []string{"psycopg"}, true},
		{"environment marker", "gunicorn; sys_platform != 'win32'\n", []string{"gunicorn"}, true},
		{"space before specifier", "gunicorn >= 21\n", []string{"gunicorn"}, true},
		{"direct reference", "Django @ https://example.com/django-4.2.tar.gz\n", []string{"django"}, true},
		{"CRLF line endings", "Django>=4.2\r\ngunicorn\r\n", []string{"gunicorn"}, true},
		{"indented", "  gunicorn==21.2\n", []string{"gunicorn"}, true},
		{"trailing comment", "gunicorn==21.2  # WSGI server\n", []string{"gunicorn"}, true},
		{"commented-out line", "Django>=4.2\n# gunicorn==21.2\n", []string{"gunicorn"}, false},
		{"commented-out without space", "Django>=4.2\n#psycopg2-binary\n", []string{"psycopg2-binary"}, false},
		{"name mentioned in a comment", "Django>=4.2  # served by gunicorn\n", []string{"gunicorn"}, false},
		{"name in a URL comment", "django-environ==0.11  # https://github.com/joke2k/django-environ\n", []string{"django-environ"}, true},
		{"pyproject dependencies array", "[project]\ndependencies = [\n    \"Django>=4.2\",\n    \"gunicorn>=21\",\n]\n", []string{"gunicorn"}, true},
		{"pyproject inline array", "[project]\ndependencies = [\"Django>=4.2\", 'gunicorn>=21']\n", []string{"gunicorn"}, true},
		{"poetry table", "[tool.poetry.dependencies]\npython = \"^3.11\"\ngunicorn = \"^21.2\"\n", []string{"gunicorn"}, true},
		{"pyproject commented-out dependency", "dependencies = [\n    \"Django>=4.2\",\n    # \"gunicorn>=21\",\n]\n", []string{"gunicorn"}, false},
		{"any of several, second present", "psycopg2-binary==2.9.9\n", []string{"psycopg2", "psycopg2-binary", "psycopg"}, true},
		{"any of several, none present", "Django>=4.2\n", []string{"psycopg2", "psycopg2-binary", "psycopg"}, false},
		{"empty text", "", []string{"django"}, false},
		{"no names", "Django>=4.2\n", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Requirements{Kind: "requirements", Path: "requirements.txt", Text: tt.text}
			if got := r.Declares(tt.names...); got != tt.want {
				t.Errorf("Declares(%q) on %q: got %v, want %v", tt.names, tt.text, got, tt.want)
			}
		})
	}
}
