package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, listed in `muelle --help`.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const exitCodesHelp = `Exit codes:
  0    success
  1    the command failed (the message says why and what to do)
  2    wrong usage: unknown command or flag, bad argument
  130  interrupted (Ctrl-C or SIGTERM)`

// usageError marks errors in how muelle was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// globals are what every command receives.
type globals struct {
	in      io.Reader
	out     io.Writer
	errOut  io.Writer
	verbose bool
}

// progressLogger reports the steps of long commands on stderr, at info
// level even without --verbose.
func (g *globals) progressLogger() *slog.Logger {
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(g.errOut, &slog.HandlerOptions{Level: level}))
}

// Main runs muelle with the process's arguments and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	g := &globals{in: in, out: out, errOut: errOut}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		fmt.Fprintln(errOut, "muelle: interrupted")
		return exitInterrupted
	case errors.As(err, new(usageError)) || isCobraUsageError(err):
		fmt.Fprintf(errOut, "muelle: %v\nRun 'muelle --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(errOut, "muelle: %v\n", err)
		return exitError
	}
}

// isCobraUsageError recognises the errors cobra returns for an unknown
// command, which it does not type.
func isCobraUsageError(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "muelle",
		Short: "Take a Django project to production on a Docker host, and keep it there",
		Long: `muelle takes an existing Django project to production on one Docker host
and keeps it there.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log what muelle is doing to stderr")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newInitCmd(g), newEnvCmd(g), newUpCmd(g), newDownCmd(g),
		newDeployCmd(g), newRollbackCmd(g), newReleasesCmd(g), newServeCmd(g), newWebhooksCmd(g), newServiceCmd(g),
		newBackupCmd(g), newRestoreCmd(g), newScheduleCmd(g), newCronCmd(g), newCleanupCmd(g), newImagesCmd(g), newVersionCmd(g))
	return root
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}
