package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/muelle-dev/muelle/internal/baseimage"
	"github.com/muelle-dev/muelle/internal/engine"
	"github.com/spf13/cobra"
)

func newImagesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Provide the stack's base images, from a registry or from your distribution's package mirror",
		Long: `The generated stack runs on four base images: python:3.11-slim, postgres:15,
redis:7 and nginx:stable. Where a Docker registry is reachable they are pulled
as usual. Where none is (air-gapped servers, closed networks), 'muelle images
build' builds stand-ins from Debian's package mirror with mmdebstrap and tags
them with the same names, so the generated files need no change. The
stand-ins honour the official images' contracts (POSTGRES_* variables,
redis-server options, nginx's conf.d).`,
	}
	cmd.AddCommand(newImagesBuildCmd(g), newImagesListCmd(g))
	return cmd
}

type imagesBuildOptions struct {
	names []string
	opts  baseimage.Options
}

func newImagesBuildCmd(g *globals) *cobra.Command {
	o := imagesBuildOptions{opts: baseimage.DefaultOptions()}
	noPull := false
	cmd := &cobra.Command{
		Use:   "build [IMAGE...]",
		Short: "Make sure the base images exist: keep, pull, or build from the package mirror",
		Long: `Make sure the stack's base images exist on this Docker host.

An image that is present is kept (a stand-in whose recipe changed is rebuilt).
A missing image is pulled from its registry; if that fails, or with
--no-pull, a stand-in is built from Debian's package mirror. IMAGE is a short
name (python, postgres, redis, nginx) or the full reference; the default is
all four.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.names = args
			o.opts.Pull = !noPull
			return runImagesBuild(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noPull, "no-pull", false, "do not try the registry; build stand-ins from the package mirror")
	f.BoolVar(&o.opts.Force, "force", false, "rebuild stand-ins even when they are up to date")
	f.StringVar(&o.opts.Suite, "suite", o.opts.Suite, "Debian suite the stand-ins are built from")
	f.StringVar(&o.opts.Mirror, "mirror", o.opts.Mirror, "Debian archive URL")
	f.StringVar(&o.opts.SecurityMirror, "security-mirror", o.opts.SecurityMirror, "Debian security archive URL")
	f.StringSliceVar(&o.opts.PythonPackages, "python-package", nil, "extra Debian package for the python stand-in (repeatable), e.g. python3-pil")
	return cmd
}

func runImagesBuild(ctx context.Context, g *globals, o imagesBuildOptions) error {
	specs, err := baseimage.Lookup(o.names)
	if err != nil {
		return usageError{err}
	}
	eng, err := engine.New(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	// Building from nothing takes minutes; say what is happening.
	start := time.Now()
	results, err := baseimage.NewBuilder(eng, o.opts, g.progressLogger()).Ensure(ctx, specs)
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tRESULT\tTIME")
	for _, r := range results {
		if r.Action == "" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Spec.Ref, r.Action, r.Duration.Round(100*time.Millisecond))
	}
	if ferr := tw.Flush(); ferr != nil {
		return ferr
	}
	if err != nil {
		return fmt.Errorf("providing base images: %w", err)
	}
	fmt.Fprintf(g.out, "base images ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func newImagesListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Show the stack's base images and where each came from",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImagesList(cmd.Context(), g)
		},
	}
}

func runImagesList(ctx context.Context, g *globals) error {
	eng, err := engine.New(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tSOURCE\tSIZE")
	for _, s := range baseimage.Specs {
		img, err := eng.Image(ctx, s.Ref)
		switch {
		case errors.Is(err, engine.ErrNoImage):
			fmt.Fprintf(tw, "%s\tmissing (run 'muelle images build')\t-\n", s.Ref)
		case err != nil:
			return err
		case img.Labels[baseimage.LabelStandIn] != "":
			fmt.Fprintf(tw, "%s\tstand-in built from %s\t%s\n", s.Ref, img.Labels[baseimage.LabelStandIn], humanBytes(img.Size))
		default:
			fmt.Fprintf(tw, "%s\tregistry or local\t%s\n", s.Ref, humanBytes(img.Size))
		}
	}
	return tw.Flush()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
