package scaffold

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"

	"github.com/muelle-dev/muelle/internal/config"
	"github.com/muelle-dev/muelle/internal/django"
	"github.com/muelle-dev/muelle/internal/envfile"
)

//go:embed all:templates
var templates embed.FS

// SettingsPackage is the Python package init writes next to manage.py.
const SettingsPackage = "muelle_settings"

// Options change what is generated.
type Options struct {
	// PythonImage is the default base image. Default "python:3.11-slim".
	PythonImage string
	// MaxBodySize is nginx's request size limit. Default "10m".
	MaxBodySize string
}

func (o *Options) setDefaults() {
	if o.PythonImage == "" {
		o.PythonImage = "python:3.11-slim"
	}
	if o.MaxBodySize == "" {
		o.MaxBodySize = "10m"
	}
}

// File is one generated file, its path relative to the project root.
type File struct {
	Path    string
	Content []byte
	Mode    uint32
}

// data is what the templates see.
type data struct {
	*django.Project
	Options
	// Name is the project's name as compose and image names allow it.
	Name string
	// WorkDir is where manage.py lives inside the image.
	WorkDir string
	// RequirementsCopy and RequirementsCopyDest are the COPY source and
	// destination (under /tmp/requirements/) of the requirements.
	RequirementsCopy, RequirementsCopyDest string
	// ExtraRequirements are what the stack needs beyond the project's own.
	ExtraRequirements []string
}

// extraRequirements lists the distributions the stack needs that the
// project does not declare.
func extraRequirements(r django.Requirements) []string {
	var extra []string
	if !r.Declares("gunicorn") {
		extra = append(extra, "gunicorn>=20.1")
	}
	if !r.Declares("psycopg2", "psycopg2-binary", "psycopg") {
		extra = append(extra, "psycopg2>=2.9")
	}
	if !r.Declares("django-redis") {
		extra = append(extra, "django-redis>=5.2")
	}
	return extra
}

// Render returns every file of the production setup for p.
func Render(p *django.Project, opts Options) ([]File, error) {
	opts.setDefaults()
	d := data{
		Project:           p,
		Options:           opts,
		Name:              config.ProjectName(p.Name),
		WorkDir:           path.Join("/app", p.ManageDir),
		ExtraRequirements: extraRequirements(p.Requirements),
	}
	if dir := path.Dir(p.Requirements.Path); dir == "." {
		d.RequirementsCopy, d.RequirementsCopyDest = p.Requirements.Path, p.Requirements.Path
	} else {
		d.RequirementsCopy, d.RequirementsCopyDest = dir+"/", dir+"/"
	}

	settingsDir := path.Join(p.ManageDir, SettingsPackage)
	targets := map[string]string{
		"Dockerfile.tmpl":                     "Dockerfile",
		"dockerignore.tmpl":                   ".dockerignore",
		"compose.yaml.tmpl":                   "compose.yaml",
		"compose.prod.yaml.tmpl":              "compose.prod.yaml",
		"deploy/docker-entrypoint.sh.tmpl":    "deploy/docker-entrypoint.sh",
		"deploy/gunicorn.conf.py.tmpl":        "deploy/gunicorn.conf.py",
		"deploy/requirements-muelle.txt.tmpl": "deploy/requirements-muelle.txt",
		"deploy/nginx/default.conf.tmpl":      "deploy/nginx/default.conf",
		"deploy/nginx/upstream.conf.tmpl":     "deploy/nginx/upstream.conf",
		"deploy/nginx/proxy.inc.tmpl":         "deploy/nginx/proxy.inc",
		"deploy/nginx/maintenance.html.tmpl":  "deploy/nginx/maintenance.html",
	}
	settings, err := fs.Glob(templates, "templates/settings/*.tmpl")
	if err != nil {
		return nil, err
	}
	for _, s := range settings {
		name := strings.TrimSuffix(path.Base(s), ".tmpl")
		targets["settings/"+name+".tmpl"] = path.Join(settingsDir, name)
	}

	var files []File
	for src, dst := range targets {
		tmpl, err := template.New(path.Base(src)).Option("missingkey=error").ParseFS(templates, "templates/"+src)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", src, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, d); err != nil {
			return nil, fmt.Errorf("render %s: %w", dst, err)
		}
		mode := uint32(0o644)
		if strings.HasSuffix(dst, ".sh") {
			mode = 0o755
		}
		files = append(files, File{Path: dst, Content: buf.Bytes(), Mode: mode})
	}
	files = append(files,
		File{Path: ".env.production.example", Content: EnvExample(d.Name), Mode: 0o644},
		File{Path: "deploy/certs/.gitignore", Content: []byte("# Certificates and keys stay out of git.\n*.pem\n"), Mode: 0o644},
	)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// EnvExample renders .env.production.example from envfile.Vars.
func EnvExample(name string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Production environment of %s, written by muelle init.\n", name)
	b.WriteString("# Copy to .env.production, fill in, and keep it private:\n")
	b.WriteString("#   cp .env.production.example .env.production && chmod 600 .env.production\n")
	b.WriteString("# `muelle env check` reports what is missing or unsafe, without printing values.\n")
	section := ""
	for _, v := range envfile.Vars {
		if v.Section != section {
			section = v.Section
			fmt.Fprintf(&b, "\n# --- %s ---\n", section)
		}
		need := "optional"
		if v.Required {
			need = "required"
		}
		fmt.Fprintf(&b, "\n# %s (%s)\n", wrap(v.Doc, 76, "# "), need)
		if v.Required || v.Secret {
			fmt.Fprintf(&b, "%s=%s\n", v.Name, v.Example)
		} else {
			fmt.Fprintf(&b, "#%s=%s\n", v.Name, v.Example)
		}
	}
	return b.Bytes()
}

func wrap(s string, width int, prefix string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	lines = append(lines, line)
	return strings.Join(lines, "\n"+prefix)
}
