package cli

import (
	"fmt"
	"io"

	"github.com/muelle-dev/muelle/internal/buildinfo"
	"github.com/spf13/cobra"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print muelle's version, commit and Go version",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return runVersion(g.out, buildinfo.Read())
		},
	}
}

func runVersion(out io.Writer, info buildinfo.Info) error {
	_, err := fmt.Fprintf(out, "muelle %s (commit %s, %s)\n", info.Version, info.Commit, info.GoVersion)
	return err
}
