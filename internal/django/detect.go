package django

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Project is what muelle learned about a Django project from its files.
// Paths are relative to Root and use forward slashes.
type Project struct {
	// Root is the directory muelle was pointed at (the build context).
	Root string
	// ManageDir is the directory holding manage.py: "." or a subdirectory.
	ManageDir string
	// SettingsModule is the project's own settings module that muelle's
	// production settings import, e.g. "mysite.settings".
	SettingsModule string
	// SettingsFile is the file of SettingsModule.
	SettingsFile string
	// WSGIApplication is the dotted path gunicorn serves, e.g.
	// "mysite.wsgi:application".
	WSGIApplication string
	// Requirements says how the project declares its dependencies.
	Requirements Requirements
	// HasStaticRoot and HasMediaRoot say whether the project's settings set
	// STATIC_ROOT and MEDIA_ROOT (production settings set both anyway).
	HasStaticRoot, HasMediaRoot bool
	// Name is a short name for the project, from its settings package.
	Name string
}

// Requirements locates the project's dependency declaration.
type Requirements struct {
	// Kind is "requirements" (a pip requirements file) or "pyproject".
	Kind string
	// Path is the file, relative to Root.
	Path string
	// Text is the file's content, for checking what it already declares.
	Text string
}

// commentRe matches a comment: "#" at the start of a line or after
// whitespace, as pip and TOML read it ("...#egg=name" is not a comment).
var commentRe = regexp.MustCompile(`(?m)(^|\s)#.*$`)

// Declares reports whether the requirements name one of the given
// distributions (case- and separator-insensitive). Comments do not count.
func (r Requirements) Declares(names ...string) bool {
	norm := func(s string) string { return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(s)) }
	text := norm(commentRe.ReplaceAllString(r.Text, "$1"))
	for _, n := range names {
		re := regexp.MustCompile(`(?m)(^|["'\s,\[])` + regexp.QuoteMeta(norm(n)) + `\s*($|[<>=!~;\[\s"',])`)
		if re.MatchString(text) {
			return true
		}
	}
	return false
}

// Hints are the answers to what detection could not find; empty fields
// mean "detect".
type Hints struct {
	ManageDir       string // --manage-dir
	SettingsModule  string // --settings
	Requirements    string // --requirements
	WSGIApplication string // --wsgi
}

// MissingError lists what detection could not find, each with the flag that
// supplies it.
type MissingError struct{ Problems []string }

func (e *MissingError) Error() string {
	return "cannot tell enough about this Django project:\n  - " + strings.Join(e.Problems, "\n  - ")
}

var (
	settingsRe = regexp.MustCompile(`DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']`)
	wsgiAppRe  = regexp.MustCompile(`(?m)^\s*WSGI_APPLICATION\s*=\s*["']([\w.]+)["']`)
	staticRe   = regexp.MustCompile(`(?m)^\s*STATIC_ROOT\s*=`)
	mediaRe    = regexp.MustCompile(`(?m)^\s*MEDIA_ROOT\s*=`)
)

// Detect reads the project at root. It reports every problem at once.
func Detect(root string, h Hints) (*Project, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("project directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("project directory %s is not a directory", root)
	}
	p := &Project{Root: root}
	var problems []string

	p.ManageDir, err = findManageDir(root, h.ManageDir)
	if err != nil {
		return nil, &MissingError{Problems: []string{err.Error()}}
	}
	manageDir := filepath.Join(root, filepath.FromSlash(p.ManageDir))
	manage, err := os.ReadFile(filepath.Join(manageDir, "manage.py"))
	if err != nil {
		return nil, fmt.Errorf("read manage.py: %w", err)
	}

	p.SettingsModule = h.SettingsModule
	if p.SettingsModule == "" {
		p.SettingsModule = detectSettings(manageDir, string(manage))
	}
	if p.SettingsModule == "" {
		problems = append(problems, "no settings module: manage.py does not set DJANGO_SETTINGS_MODULE; pass --settings mysite.settings")
	} else if file, ok := moduleFile(manageDir, p.SettingsModule); ok {
		p.SettingsFile = pathJoin(p.ManageDir, file)
	} else {
		problems = append(problems, fmt.Sprintf("settings module %s has no file under %s; pass --settings with the module manage.py runs", p.SettingsModule, p.ManageDir))
	}

	var settingsText string
	if p.SettingsFile != "" {
		settingsText = readSettingsText(root, p.SettingsFile)
		p.HasStaticRoot = staticRe.MatchString(settingsText)
		p.HasMediaRoot = mediaRe.MatchString(settingsText)
	}

	p.WSGIApplication = h.WSGIApplication
	if p.WSGIApplication == "" {
		if m := wsgiAppRe.FindStringSubmatch(settingsText); m != nil {
			mod, attr := splitLast(m[1])
			p.WSGIApplication = mod + ":" + attr
		}
	}
	if p.WSGIApplication == "" {
		problems = append(problems, "no WSGI application: the settings do not set WSGI_APPLICATION; pass --wsgi mysite.wsgi:application")
	}

	p.Requirements, err = findRequirements(root, p.ManageDir, h.Requirements)
	if err != nil {
		problems = append(problems, err.Error())
	}

	if p.SettingsModule != "" {
		p.Name = strings.SplitN(p.SettingsModule, ".", 2)[0]
		if p.Name == "config" || p.Name == "settings" {
			p.Name = filepath.Base(absPath(root))
		}
	}
	if len(problems) > 0 {
		return nil, &MissingError{Problems: problems}
	}
	return p, nil
}

func findManageDir(root, hint string) (string, error) {
	if hint != "" {
		if _, err := os.Stat(filepath.Join(root, hint, "manage.py")); err != nil {
			return "", fmt.Errorf("--manage-dir %s: no manage.py there", hint)
		}
		return filepath.ToSlash(filepath.Clean(hint)), nil
	}
	if _, err := os.Stat(filepath.Join(root, "manage.py")); err == nil {
		return ".", nil
	}
	matches, _ := filepath.Glob(filepath.Join(root, "*", "manage.py"))
	var dirs []string
	for _, m := range matches {
		rel, _ := filepath.Rel(root, filepath.Dir(m))
		dirs = append(dirs, filepath.ToSlash(rel))
	}
	switch len(dirs) {
	case 0:
		return "", errors.New("no manage.py in this directory or one level down: run muelle init in your Django project, or pass --manage-dir")
	case 1:
		return dirs[0], nil
	default:
		sort.Strings(dirs)
		return "", fmt.Errorf("manage.py found in several directories (%s): pass --manage-dir to choose one", strings.Join(dirs, ", "))
	}
}

// detectSettings prefers, in order: the base module of a settings package
// (config/settings/base.py, as cookiecutter-django lays it out), because
// muelle's production settings provide the production part; else the module
// manage.py names.
func detectSettings(manageDir, manage string) string {
	m := settingsRe.FindStringSubmatch(manage)
	if m == nil {
		return ""
	}
	mod := m[1]
	// The settings package is the module itself (manage.py names
	// "mysite.settings" with mysite/settings/__init__.py) or its parent
	// ("config.settings.local" in config/settings/).
	parent, _ := splitLast(mod)
	for _, pkg := range []string{mod, parent} {
		if pkg == "" || !isPackage(manageDir, pkg) || !strings.HasSuffix(pkg, "settings") {
			continue
		}
		for _, base := range []string{"base", "common"} {
			if _, ok := moduleFile(manageDir, pkg+"."+base); ok {
				return pkg + "." + base
			}
		}
	}
	return mod
}

func moduleFile(dir, module string) (string, bool) {
	rel := strings.ReplaceAll(module, ".", "/")
	for _, cand := range []string{rel + ".py", rel + "/__init__.py"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(cand))); err == nil {
			return cand, true
		}
	}
	return "", false
}

func isPackage(dir, module string) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(module, ".", "/")), "__init__.py"))
	return err == nil
}

// readSettingsText returns the settings file and, when it belongs to a
// settings package (config/settings/*.py), its siblings too, so that
// STATIC_ROOT set in base.py counts.
func readSettingsText(root, file string) string {
	path := filepath.Join(root, filepath.FromSlash(file))
	paths := []string{path}
	if dir := filepath.Dir(path); filepath.Base(dir) == "settings" {
		sib, _ := filepath.Glob(filepath.Join(dir, "*.py"))
		paths = append(paths, sib...)
	}
	var b strings.Builder
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			b.Write(data)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func findRequirements(root, manageDir, hint string) (Requirements, error) {
	if hint != "" {
		return readRequirements(root, hint)
	}
	var cands []string
	for _, dir := range uniq(".", manageDir) {
		for _, name := range []string{"requirements.txt", "requirements/production.txt", "requirements/prod.txt", "requirements/base.txt", "requirements/common.txt", "pyproject.toml"} {
			cands = append(cands, pathJoin(dir, name))
		}
	}
	for _, c := range cands {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(c))); err == nil {
			return readRequirements(root, c)
		}
	}
	return Requirements{}, errors.New("no requirements.txt, requirements/*.txt or pyproject.toml: pass --requirements with the file that lists your dependencies")
}

func readRequirements(root, rel string) (Requirements, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return Requirements{}, fmt.Errorf("--requirements %s: %v", rel, err)
	}
	kind := "requirements"
	if strings.HasSuffix(rel, ".toml") {
		kind = "pyproject"
	}
	text := string(data)
	// Follow "-r other.txt" includes one level, so requirements/production.txt
	// that includes base.txt declares what base.txt declares.
	if kind == "requirements" {
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(commentRe.ReplaceAllString(line, ""))
			if len(f) == 2 && (f[0] == "-r" || f[0] == "--requirement") {
				inc := filepath.Join(root, filepath.FromSlash(pathJoin(pathDir(rel), f[1])))
				if b, err := os.ReadFile(inc); err == nil {
					text += "\n" + string(b)
				}
			}
		}
	}
	return Requirements{Kind: kind, Path: filepath.ToSlash(filepath.Clean(rel)), Text: text}, nil
}

func splitLast(dotted string) (string, string) {
	i := strings.LastIndex(dotted, ".")
	if i < 0 {
		return "", dotted
	}
	return dotted[:i], dotted[i+1:]
}

func pathJoin(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}

func pathDir(p string) string {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "."
	}
	return p[:i]
}

func uniq(items ...string) []string {
	var out []string
	for _, it := range items {
		dup := false
		for _, o := range out {
			dup = dup || o == it
		}
		if !dup {
			out = append(out, it)
		}
	}
	return out
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
