package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

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
	cmd.AddCommand(check)
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
