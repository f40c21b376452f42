package envfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Distinctive secrets, so a test can tell when one leaks into a message.
const (
	goodSecretKey     = "Kxb8SRVO6gcZektX7jBN4s1xMYBi7sVMN1YoUUP9PkltfQ3XXar0M95nTRYd"
	goodPostgresPass  = "pgSecret-Wombat-93xk-Llama-27qv"
	goodRedisPassword = "redisSecret-Otter-58qz-Heron-41"
)

// kv is one line of an environment file; an empty Raw means NAME=Value.
type kv struct {
	Name, Value string
	Raw         string
}

// goodFile returns the lines of a correct production file.
func goodFile() []kv {
	return []kv{
		{Name: "DJANGO_SECRET_KEY", Value: goodSecretKey},
		{Name: "DJANGO_ALLOWED_HOSTS", Value: "example.org"},
		{Name: "DJANGO_DEBUG", Value: "false"},
		{Name: "POSTGRES_DB", Value: "app"},
		{Name: "POSTGRES_USER", Value: "app"},
		{Name: "POSTGRES_PASSWORD", Value: goodPostgresPass},
		{Name: "REDIS_PASSWORD", Value: goodRedisPassword},
	}
}

// with returns lines with name set to value (added if absent).
func with(lines []kv, name, value string) []kv {
	out := slices.Clone(lines)
	for i := range out {
		if out[i].Name == name {
			out[i].Value = value
			out[i].Raw = ""
			return out
		}
	}
	return append(out, kv{Name: name, Value: value})
}

// withRaw returns lines with name's line replaced by raw.
func withRaw(lines []kv, name, raw string) []kv {
	out := slices.Clone(lines)
	for i := range out {
		if out[i].Name == name {
			out[i].Raw = raw
			return out
		}
	}
	return append(out, kv{Name: name, Raw: raw})
}

// without returns lines without name.
func without(lines []kv, name string) []kv {
	return slices.DeleteFunc(slices.Clone(lines), func(l kv) bool { return l.Name == name })
}

// writeEnv writes lines to a new .env.production with mode, whatever the
// umask, and returns its path.
func writeEnv(t *testing.T, mode fs.FileMode, lines []kv) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# production settings\n\n")
	for _, l := range lines {
		if l.Raw != "" {
			b.WriteString(l.Raw + "\n")
			continue
		}
		fmt.Fprintf(&b, "%s=%s\n", l.Name, l.Value)
	}
	path := filepath.Join(t.TempDir(), DefaultName)
	if err := os.WriteFile(path, []byte(b.String()), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// check reads path, checks it, and fails the test if any problem shows the
// value of a secret variable of the file.
func check(t *testing.T, path string) []Problem {
	t.Helper()
	f, err := Read(path)
	if err != nil {
		t.Fatalf("Read: got error %v, want nil", err)
	}
	ps := Check(f)
	for _, v := range Vars {
		val := f.Values[v.Name]
		if !v.Secret || len(val) < 6 || val == v.Example {
			continue
		}
		for _, p := range ps {
			if strings.Contains(p.String(), val) {
				t.Errorf("problem %q shows the value of %s", p.String(), v.Name)
			}
		}
	}
	return ps
}

// find returns the problems about name.
func find(ps []Problem, name string) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Var == name {
			out = append(out, p)
		}
	}
	return out
}

// wantOne fails unless ps is exactly one problem of sev about name whose
// message contains substr.
func wantOne(t *testing.T, ps []Problem, sev Severity, name, substr string) {
	t.Helper()
	if len(ps) != 1 {
		t.Fatalf("got %d problems %q, want 1 %s about %s", len(ps), ps, sev, name)
	}
	p := ps[0]
	if p.Severity != sev || p.Var != name {
		t.Errorf("got problem %q, want a %s about %s", p.String(), sev, name)
	}
	if !strings.Contains(p.Message, substr) {
		t.Errorf("got message %q, want it to contain %q", p.Message, substr)
	}
}

func TestCheckCorrectFile(t *testing.T) {
	ps := check(t, writeEnv(t, 0o600, goodFile()))
	if len(ps) != 0 {
		t.Errorf("got problems %q, want none", ps)
	}
	if HasErrors(ps) {
		t.Errorf("HasErrors: got true, want false")
	}
}

func requiredVars(t *testing.T) []string {
	var names []string
	for _, v := range Vars {
		if v.Required {
			names = append(names, v.Name)
		}
	}
	want := []string{"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "REDIS_PASSWORD"}
	if !slices.Equal(names, want) {
		t.Fatalf("got required variables %q, want %q", names, want)
	}
	return names
}

func TestCheckMissingRequired(t *testing.T) {
	for _, name := range requiredVars(t) {
		t.Run(name, func(t *testing.T) {
			ps := check(t, writeEnv(t, 0o600, without(goodFile(), name)))
			wantOne(t, ps, Error, name, "missing")
			if !HasErrors(ps) {
				t.Errorf("HasErrors: got false, want true")
			}
		})
	}
}

func TestCheckEmptyRequired(t *testing.T) {
	for _, name := range requiredVars(t) {
		for _, form := range []struct{ name, raw string }{
			{"bare", name + "="},
			{"quoted", name + `=""`},
			{"blanks", name + `="   "`},
		} {
			t.Run(name+"/"+form.name, func(t *testing.T) {
				ps := check(t, writeEnv(t, 0o600, withRaw(goodFile(), name, form.raw)))
				wantOne(t, ps, Error, name, "empty")
			})
		}
	}
}

func TestCheckPlaceholders(t *testing.T) {
	n := 0
	for _, v := range Vars {
		if !v.Secret {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			if !strings.Contains(v.Example, Placeholder) {
				t.Fatalf("got example %q, want it to contain %q", v.Example, Placeholder)
			}
			ps := check(t, writeEnv(t, 0o600, with(goodFile(), v.Name, v.Example)))
			wantOne(t, ps, Error, v.Name, "placeholder")
		})
	}
	if n != 3 {
		t.Errorf("got %d secret variables, want 3", n)
	}
	t.Run("in a non-secret variable", func(t *testing.T) {
		ps := check(t, writeEnv(t, 0o600, with(goodFile(), "DJANGO_ALLOWED_HOSTS", Placeholder+".example.org")))
		wantOne(t, ps, Error, "DJANGO_ALLOWED_HOSTS", "placeholder")
	})
}

func TestCheckWeakSecretKey(t *testing.T) {
	for _, tc := range []struct {
		name, key, substr string
	}{
		{"too short", "weakKey-Q7x9Lm2Pz4Rt", "too weak"},
		{"few unique characters", strings.Repeat("a", 60), "too weak"},
		{"few unique characters, long", strings.Repeat("abab", 30), "too weak"},
		{"django-insecure", "django-insecure-" + goodSecretKey, "django-insecure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := check(t, writeEnv(t, 0o600, with(goodFile(), "DJANGO_SECRET_KEY", tc.key)))
			wantOne(t, ps, Error, "DJANGO_SECRET_KEY", tc.substr)
		})
	}
	t.Run("exactly the minimum length", func(t *testing.T) {
		key := goodSecretKey[:MinSecretKeyLength]
		if ps := check(t, writeEnv(t, 0o600, with(goodFile(), "DJANGO_SECRET_KEY", key))); len(ps) != 0 {
			t.Errorf("got problems %q, want none", ps)
		}
	})
}

func TestCheckDebug(t *testing.T) {
	for _, val := range []string{"true", "True", "1", "on", "yes"} {
		t.Run(val, func(t *testing.T) {
			ps := check(t, writeEnv(t, 0o600, with(goodFile(), "DJANGO_DEBUG", val)))
			wantOne(t, ps, Error, "DJANGO_DEBUG", "DJANGO_DEBUG=false")
		})
	}
	for _, val := range []string{"false", "False", "0", "off", "no"} {
		t.Run(val, func(t *testing.T) {
			if ps := check(t, writeEnv(t, 0o600, with(goodFile(), "DJANGO_DEBUG", val))); len(ps) != 0 {
				t.Errorf("got problems %q, want none", ps)
			}
		})
	}
	t.Run("unset", func(t *testing.T) {
		if ps := check(t, writeEnv(t, 0o600, without(goodFile(), "DJANGO_DEBUG"))); len(ps) != 0 {
			t.Errorf("got problems %q, want none", ps)
		}
	})
}

func TestCheckAllowedHosts(t *testing.T) {
	for _, tc := range []struct {
		name, hosts string
		sev         Severity // "" for no problem
		substr      string
	}{
		{"comma only", ",", Error, "lists no host"},
		{"commas and blanks", `" , ,"`, Error, "lists no host"},
		{"star", "*", Warning, "*"},
		{"star among hosts", "example.org,*", Warning, "*"},
		{"several hosts", "example.org, www.example.org", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := check(t, writeEnv(t, 0o600, with(goodFile(), "DJANGO_ALLOWED_HOSTS", tc.hosts)))
			if tc.sev == "" {
				if len(ps) != 0 {
					t.Errorf("got problems %q, want none", ps)
				}
				return
			}
			wantOne(t, ps, tc.sev, "DJANGO_ALLOWED_HOSTS", tc.substr)
			if got, want := HasErrors(ps), tc.sev == Error; got != want {
				t.Errorf("HasErrors: got %v, want %v", got, want)
			}
		})
	}
}

func TestCheckShortPassword(t *testing.T) {
	for _, name := range []string{"POSTGRES_PASSWORD", "REDIS_PASSWORD"} {
		t.Run(name, func(t *testing.T) {
			ps := check(t, writeEnv(t, 0o600, with(goodFile(), name, "Pw8Short")))
			wantOne(t, ps, Warning, name, "16 characters")
			if HasErrors(ps) {
				t.Errorf("HasErrors: got true, want false")
			}
		})
	}
}

func TestCheckMode(t *testing.T) {
	for _, tc := range []struct {
		mode    fs.FileMode
		wantErr bool
	}{
		{0o644, true},
		{0o640, true},
		{0o604, true},
		{0o600, false},
		{0o400, false},
	} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			path := writeEnv(t, tc.mode, goodFile())
			ps := check(t, path)
			if !tc.wantErr {
				if len(ps) != 0 {
					t.Errorf("got problems %q, want none", ps)
				}
				return
			}
			wantOne(t, ps, Error, "", "chmod 600")
			if msg := ps[0].Message; !strings.Contains(msg, path) {
				t.Errorf("got message %q, want it to name %s", msg, path)
			}
		})
	}
}

func TestCheckAllProblems(t *testing.T) {
	lines := goodFile()
	lines = without(lines, "POSTGRES_DB")
	lines = with(lines, "POSTGRES_USER", "")
	lines = with(lines, "REDIS_PASSWORD", Placeholder+"_to_a_long_random_password")
	lines = with(lines, "DJANGO_SECRET_KEY", "weakKey-Q7x9Lm2Pz4Rt")
	lines = with(lines, "DJANGO_DEBUG", "true")
	lines = with(lines, "DJANGO_ALLOWED_HOSTS", "*")
	lines = with(lines, "POSTGRES_PASSWORD", "Pw8Short")
	ps := check(t, writeEnv(t, 0o644, lines))

	type key struct {
		sev  Severity
		name string
	}
	want := []key{
		{Error, ""},
		{Error, "DJANGO_SECRET_KEY"},
		{Error, "DJANGO_DEBUG"},
		{Error, "POSTGRES_DB"},
		{Error, "POSTGRES_USER"},
		{Error, "REDIS_PASSWORD"},
		{Warning, "DJANGO_ALLOWED_HOSTS"},
		{Warning, "POSTGRES_PASSWORD"},
	}
	var got []key
	for _, p := range ps {
		got = append(got, key{p.Severity, p.Var})
	}
	sortKeys := func(ks []key) []key {
		ks = slices.Clone(ks)
		slices.SortFunc(ks, func(a, b key) int {
			return strings.Compare(string(a.sev)+"/"+a.name, string(b.sev)+"/"+b.name)
		})
		return ks
	}
	if g, w := sortKeys(got), sortKeys(want); !slices.Equal(g, w) {
		t.Errorf("got problems %v, want %v", g, w)
	}
	seenWarning := false
	for i, p := range ps {
		switch p.Severity {
		case Warning:
			seenWarning = true
		case Error:
			if seenWarning {
				t.Errorf("got error %d %q after a warning, want errors first: %q", i, p.String(), ps)
			}
		}
	}
	if !HasErrors(ps) {
		t.Errorf("HasErrors: got false, want true")
	}
}

func TestReadValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultName)
	content := "# comment\n" +
		"export POSTGRES_DB=app\n" +
		"POSTGRES_USER='app user'\n" +
		"DJANGO_ALLOWED_HOSTS=example.org # trailing comment\n" +
		"REDIS_PASSWORD=\"" + goodRedisPassword + "\"\n" +
		"DJANGO_CSRF_TRUSTED_ORIGINS=https://${DJANGO_ALLOWED_HOSTS}\n" +
		"POSTGRES_PASSWORD=${MUELLE_TEST_FROM_ENVIRONMENT}\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MUELLE_TEST_FROM_ENVIRONMENT", "leaked")
	f, err := Read(path)
	if err != nil {
		t.Fatalf("Read: got error %v, want nil", err)
	}
	if f.Path != path {
		t.Errorf("Path: got %q, want %q", f.Path, path)
	}
	if f.Mode != 0o600 {
		t.Errorf("Mode: got %04o, want 0600", f.Mode)
	}
	for name, want := range map[string]string{
		"POSTGRES_DB":                 "app",
		"POSTGRES_USER":               "app user",
		"DJANGO_ALLOWED_HOSTS":        "example.org",
		"REDIS_PASSWORD":              goodRedisPassword,
		"DJANGO_CSRF_TRUSTED_ORIGINS": "https://example.org",
		"POSTGRES_PASSWORD":           "",
	} {
		if got := f.Values[name]; got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

func TestReadMalformed(t *testing.T) {
	const secret = "abc-secret-value"
	for _, tc := range []struct {
		name     string
		content  string
		wantLine int
	}{
		{
			name:     "unterminated double quote",
			content:  "DJANGO_ALLOWED_HOSTS=example.org\nDJANGO_SECRET_KEY=\"" + secret + "\nPOSTGRES_DB=app\nPOSTGRES_USER=app\n",
			wantLine: 2,
		},
		{
			name:     "unterminated single quote on the last line",
			content:  "POSTGRES_DB=app\nPOSTGRES_USER=app\nREDIS_PASSWORD='" + secret,
			wantLine: 3,
		},
		{
			name: "after comments, blank lines and a multi-line value",
			content: "# production\n\nDJANGO_ALLOWED_HOSTS=example.org\nNOTE=\"first line\nsecond line\"\n\n" +
				"DJANGO_SECRET_KEY=\"" + secret + "\nPOSTGRES_DB=app\n",
			wantLine: 7,
		},
		{
			name:     "bad character in the name",
			content:  "POSTGRES_DB=app\nPOSTGRES_USER=app\nPOSTGRES!PASSWORD=" + secret + "\n",
			wantLine: 3,
		},
		{
			name:     "failed expansion",
			content:  "POSTGRES_DB=app\nPOSTGRES_PASSWORD=${UNSET_VARIABLE:?" + secret + "}\nPOSTGRES_USER=app\n",
			wantLine: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), DefaultName)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Read(path)
			if err == nil {
				t.Fatalf("Read: got %v, nil, want an error", f.Values)
			}
			msg := err.Error()
			if want := fmt.Sprintf("line %d ", tc.wantLine); !strings.Contains(msg, want) {
				t.Errorf("got error %q, want it to name %q", msg, strings.TrimSpace(want))
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "abc-secret") {
				t.Errorf("got error %q, want it not to show the line's content", msg)
			}
			if errors.Is(err, ErrNotFound) {
				t.Errorf("got errors.Is(err, ErrNotFound) true, want false")
			}
		})
	}
}

func TestReadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultName)
	_, err := Read(path)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got error %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), ".env.production.example") {
		t.Errorf("got error %q, want it to mention .env.production.example", err)
	}
}

func TestHasErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ps   []Problem
		want bool
	}{
		{"none", nil, false},
		{"warnings only", []Problem{{Severity: Warning, Var: "A"}, {Severity: Warning, Var: "B"}}, false},
		{"one error", []Problem{{Severity: Error, Var: "A"}}, true},
		{"error after a warning", []Problem{{Severity: Warning, Var: "A"}, {Severity: Error, Var: "B"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HasErrors(tc.ps); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{Severity: Error, Var: "DJANGO_DEBUG", Message: "is on"}, "error: DJANGO_DEBUG: is on"},
		{Problem{Severity: Warning, Message: "something"}, "warning: something"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestCheckNumbersAndLevels(t *testing.T) {
	tests := []struct {
		name, varName, value, substr string
	}{
		{"workers not a number", "GUNICORN_WORKERS", "many", "whole number"},
		{"negative timeout", "GUNICORN_TIMEOUT", "-5", "whole number"},
		{"hsts in words", "DJANGO_SECURE_HSTS_SECONDS", "one-year", "whole number"},
		{"unknown log level", "DJANGO_LOG_LEVEL", "LOUD", "one of DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := check(t, writeEnv(t, 0o600, with(goodFile(), tt.varName, tt.value)))
			wantOne(t, ps, Error, tt.varName, tt.substr)
		})
	}
	lines := with(with(goodFile(), "GUNICORN_WORKERS", "4"), "DJANGO_LOG_LEVEL", "warning")
	if ps := check(t, writeEnv(t, 0o600, lines)); len(ps) != 0 {
		t.Errorf("valid number and level: got %v, want no problems", ps)
	}
}
