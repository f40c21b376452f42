package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/muelle-dev/muelle/internal/atomicfile"
	"github.com/muelle-dev/muelle/internal/envfile"
	"github.com/spf13/cobra"
)

// errEnvInvalid means the env file has errors; the problems were printed.
var errEnvInvalid = errors.New("the production environment file has errors (listed above)")

func newEnvCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Check the production environment file",
	}
	var file string
	check := &cobra.Command{
		Use:   "check [DIR]",
		Short: "Report every problem of the production env file at once, without printing values",
		Long: `Load the production environment file (DIR/.env.production) and report
every problem at once: missing required variables, placeholders left from the
example, a weak SECRET_KEY, DEBUG on, no allowed hosts, missing passwords, a
file other users can read. Values are never printed. Exits non-zero on any
error. The same check runs before 'muelle up' and before every deploy.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runEnvCheck(cmd.Context(), g, envPath(dir, file))
		},
	}
	check.Flags().StringVar(&file, "file", envfile.DefaultName, "env file, relative to DIR")
	cmd.AddCommand(check, newEnvNewCmd(g))
	return cmd
}

func envPath(dir, file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}

func runEnvCheck(_ context.Context, g *globals, path string) error {
	f, err := envfile.Read(path)
	if err != nil {
		return err
	}
	problems := envfile.Check(f)
	for _, p := range problems {
		fmt.Fprintln(g.out, p)
	}
	if envfile.HasErrors(problems) {
		return errEnvInvalid
	}
	fmt.Fprintf(g.out, "%s: ok (%d variables", path, len(f.Values))
	if len(problems) > 0 {
		fmt.Fprintf(g.out, ", %d warnings", len(problems))
	}
	fmt.Fprintln(g.out, ")")
	return nil
}

type envNewOptions struct {
	dir   string
	hosts []string
	set   []string
}

func newEnvNewCmd(g *globals) *cobra.Command {
	o := envNewOptions{}
	cmd := &cobra.Command{
		Use:   "new [DIR]",
		Short: "Write .env.production from the example, with fresh random secrets",
		Long: `Write DIR/.env.production from the .env.production.example that init wrote:
every placeholder becomes a fresh random secret, DJANGO_ALLOWED_HOSTS is set
from --host, and the file is readable by its owner only. An existing
.env.production is never overwritten. No secret is printed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = "."
			if len(args) == 1 {
				o.dir = args[0]
			}
			return runEnvNew(cmd.Context(), g, o)
		},
	}
	cmd.Flags().StringSliceVar(&o.hosts, "host", nil, "host name the site answers to (repeatable; required)")
	cmd.Flags().StringArrayVar(&o.set, "set", nil, "NAME=value to set as well (repeatable), e.g. --set HTTPS_BIND=8443")
	return cmd
}

func runEnvNew(_ context.Context, g *globals, o envNewOptions) error {
	if len(o.hosts) == 0 {
		return usageError{errors.New("env new needs --host: the host name(s) the site answers to, e.g. --host example.com")}
	}
	set := map[string]string{"DJANGO_ALLOWED_HOSTS": strings.Join(o.hosts, ",")}
	for _, kv := range o.set {
		name, value, ok := strings.Cut(kv, "=")
		if _, known := envfile.Lookup(name); !ok || !known {
			return usageError{fmt.Errorf("--set %s: want NAME=value with one of the variables in .env.production.example", name)}
		}
		set[name] = value
	}
	target := filepath.Join(o.dir, envfile.DefaultName)
	if _, err := os.Stat(target); err == nil {
		return fmt.Errorf("%s exists; it is never overwritten (remove it first to start over)", target)
	}
	example, err := os.ReadFile(filepath.Join(o.dir, ".env.production.example"))
	if err != nil {
		return fmt.Errorf("read the example: %w (run 'muelle init' first)", err)
	}
	data, err := envfile.Fill(example, set)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(target, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(g.out, "wrote %s (mode 0600) with fresh secrets; review it, then 'muelle up'\n", target)
	return nil
}
