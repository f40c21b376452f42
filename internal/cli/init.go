package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/muelle-dev/muelle/internal/django"
	"github.com/muelle-dev/muelle/internal/scaffold"
	"github.com/spf13/cobra"
)

type initOptions struct {
	dir    string
	force  bool
	hints  django.Hints
	render scaffold.Options
}

func newInitCmd(g *globals) *cobra.Command {
	o := initOptions{}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a production Docker setup for the Django project in DIR (default: here)",
		Long: `Write a production Docker setup for an existing Django project.

init reads the project (manage.py, its settings module, WSGI application and
requirements) and writes: a multi-stage Dockerfile and .dockerignore;
compose.yaml (development) and compose.prod.yaml (production: gunicorn,
PostgreSQL 15, Redis 7, nginx with TLS); nginx configuration under
deploy/nginx; Django settings in muelle_settings/ (next to manage.py), which
import the project's own settings and override for production; a documented
.env.production.example; and a self-signed certificate in deploy/certs so the
stack starts before a real one exists.

The project's own files are never changed. A file init wrote before is kept
unless --force, which replaces it and shows the diff.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = "."
			if len(args) == 1 {
				o.dir = args[0]
			}
			return runInit(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, "replace files init wrote before, showing what changes")
	f.StringVar(&o.hints.ManageDir, "manage-dir", "", "directory holding manage.py, relative to DIR (default: found)")
	f.StringVar(&o.hints.SettingsModule, "settings", "", "the project's settings module to build on, e.g. mysite.settings (default: from manage.py)")
	f.StringVar(&o.hints.Requirements, "requirements", "", "file listing the dependencies, relative to DIR (default: found)")
	f.StringVar(&o.hints.WSGIApplication, "wsgi", "", "WSGI application, e.g. mysite.wsgi:application (default: WSGI_APPLICATION)")
	f.StringVar(&o.render.PythonImage, "python-image", "", "base image of the app image (default python:3.11-slim)")
	return cmd
}

func runInit(_ context.Context, g *globals, o initOptions) error {
	p, err := django.Detect(o.dir, o.hints)
	var missing *django.MissingError
	if errors.As(err, &missing) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out, "Django project in %s\n", absOr(o.dir))
	fmt.Fprintf(g.out, "  manage.py       %s\n", filepath.ToSlash(filepath.Join(p.ManageDir, "manage.py")))
	fmt.Fprintf(g.out, "  settings        %s (%s)\n", p.SettingsModule, p.SettingsFile)
	fmt.Fprintf(g.out, "  WSGI            %s\n", p.WSGIApplication)
	fmt.Fprintf(g.out, "  requirements    %s\n", p.Requirements.Path)
	fmt.Fprintf(g.out, "  STATIC_ROOT     %s\n", setOrNot(p.HasStaticRoot, "/srv/static-build"))
	fmt.Fprintf(g.out, "  MEDIA_ROOT      %s\n\n", setOrNot(p.HasMediaRoot, "/srv/media"))

	files, err := scaffold.Render(p, o.render)
	if err != nil {
		return err
	}
	changes, err := scaffold.Write(o.dir, files, o.force)
	for _, c := range changes {
		note := ""
		if c.Action == scaffold.Kept {
			note = "  (exists and differs; --force replaces it)"
		}
		fmt.Fprintf(g.out, "  %-9s %s%s\n", c.Action, c.Path, note)
		if c.Action == scaffold.Replaced {
			fmt.Fprint(g.out, indent(c.Diff, "      "))
		}
	}
	if err != nil {
		return err
	}
	wrote, err := scaffold.EnsureCertificate(o.dir, nil)
	if err != nil {
		return err
	}
	if wrote {
		fmt.Fprintf(g.out, "  %-9s %s/%s, %s (self-signed, until you install a real one)\n", scaffold.Created, scaffold.CertDir, scaffold.CertFile, scaffold.KeyFile)
	}
	fmt.Fprint(g.out, `
Next:
  1. cp .env.production.example .env.production && chmod 600 .env.production
     and fill it in; 'muelle env check' says what is missing.
  2. muelle up        builds the image and starts the production stack.
`)
	return nil
}

func absOr(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return dir
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

// setOrNot reports a setting the production settings override anyway.
func setOrNot(set bool, prod string) string {
	if set {
		return "set by the project; production uses " + prod
	}
	return "not set by the project; production uses " + prod
}
