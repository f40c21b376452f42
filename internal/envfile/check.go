package envfile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Severity of a problem.
type Severity string

// Severities: an error stops up and deploy; a warning is reported only.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Problem is one thing wrong with an environment file. Messages name the
// variable and the fix, never the value.
type Problem struct {
	Severity Severity
	Var      string
	Message  string
}

func (p Problem) String() string {
	if p.Var == "" {
		return fmt.Sprintf("%s: %s", p.Severity, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", p.Severity, p.Var, p.Message)
}

// MinSecretKeyLength is what Django's check --deploy asks of SECRET_KEY.
const MinSecretKeyLength = 50

// Check reports every problem of f at once, errors first.
func Check(f *File) []Problem {
	var ps []Problem
	add := func(sev Severity, name, format string, args ...any) {
		ps = append(ps, Problem{Severity: sev, Var: name, Message: fmt.Sprintf(format, args...)})
	}

	if f.Mode&0o077 != 0 {
		add(Error, "", "%s is readable by other users (mode %04o) and holds secrets: run chmod 600 %s", f.Path, f.Mode, f.Path)
	}
	for _, v := range Vars {
		val, set := f.Values[v.Name]
		switch {
		case v.Required && strings.TrimSpace(val) == "":
			what := "is missing"
			if set {
				what = "is empty"
			}
			add(Error, v.Name, "%s; it is required: %s", what, v.Doc)
		case strings.Contains(val, Placeholder) || (v.Secret && val == v.Example):
			add(Error, v.Name, "still holds the placeholder from the example file: set a real value")
		case strings.TrimSpace(val) == "":
		case v.Number && !isWholeNumber(val):
			add(Error, v.Name, "must be a whole number, e.g. %s", v.Example)
		case len(v.OneOf) > 0 && !slices.Contains(v.OneOf, strings.ToUpper(strings.TrimSpace(val))):
			add(Error, v.Name, "must be one of %s", strings.Join(v.OneOf, ", "))
		}
	}

	if key := f.Values["DJANGO_SECRET_KEY"]; strings.TrimSpace(key) != "" && !strings.Contains(key, Placeholder) {
		unique := map[rune]bool{}
		for _, r := range key {
			unique[r] = true
		}
		switch {
		case strings.HasPrefix(key, "django-insecure-"):
			add(Error, "DJANGO_SECRET_KEY", "is one of Django's development keys (django-insecure-...): generate a new one")
		case len(key) < MinSecretKeyLength || len(unique) < 5:
			add(Error, "DJANGO_SECRET_KEY", "is too weak: use at least %d random characters (python3 -c 'import secrets; print(secrets.token_urlsafe(50))')", MinSecretKeyLength)
		}
	}
	if debug := strings.ToLower(strings.TrimSpace(f.Values["DJANGO_DEBUG"])); debug != "" && debug != "false" && debug != "0" && debug != "no" && debug != "off" {
		add(Error, "DJANGO_DEBUG", "is on: set DJANGO_DEBUG=false (debug pages show settings and code to anyone)")
	}
	if hosts, ok := f.Values["DJANGO_ALLOWED_HOSTS"]; ok && strings.TrimSpace(hosts) != "" {
		var names []string
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				names = append(names, h)
			}
		}
		switch {
		case len(names) == 0:
			add(Error, "DJANGO_ALLOWED_HOSTS", "lists no host: name the host names the site answers to, e.g. example.com")
		case slices.Contains(names, "*"):
			add(Warning, "DJANGO_ALLOWED_HOSTS", "contains *, which accepts any Host header: list your host names instead")
		}
	}
	for _, name := range []string{"POSTGRES_PASSWORD", "REDIS_PASSWORD"} {
		if val := f.Values[name]; strings.TrimSpace(val) != "" && !strings.Contains(val, Placeholder) && len(val) < 16 {
			add(Warning, name, "is shorter than 16 characters: use a long random password")
		}
	}

	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Severity == Error && ps[j].Severity != Error })
	return ps
}

func isWholeNumber(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// HasErrors reports whether any problem is an error.
func HasErrors(ps []Problem) bool {
	for _, p := range ps {
		if p.Severity == Error {
			return true
		}
	}
	return false
}
