package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/muelle-dev/muelle/internal/cleanup"
	"github.com/muelle-dev/muelle/internal/engine"
	"github.com/spf13/cobra"
)

type cleanupOptions struct {
	stackOptions
	dryRun     bool
	keepImages int
	buildCache string
}

func newCleanupCmd(g *globals) *cobra.Command {
	o := cleanupOptions{}
	cmd := &cobra.Command{
		Use:   "cleanup [DIR]",
		Short: "Free disk space: muelle's stale temporary files, dangling images, build cache, old release images",
		Long: `Remove what piles up on a deploy host: temporary files muelle left behind
(only those older than an hour, so a running command keeps its own), untagged
images no container uses, build cache beyond --build-cache, and release
images of the app beyond the newest --keep-images (never one a container
uses). Prints what it removes and how much it freed; --dry-run only prints.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCleanup(cmd.Context(), g, &o, args)
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only print what would be removed")
	cmd.Flags().IntVar(&o.keepImages, "keep-images", 3, "release images of the app to keep for rollback")
	cmd.Flags().StringVar(&o.buildCache, "build-cache", "5GB", "build cache size to keep")
	return cmd
}

func runCleanup(ctx context.Context, g *globals, o *cleanupOptions, args []string) error {
	cfg, err := o.load(args)
	if err != nil {
		return err
	}
	limit, err := units.FromHumanSize(o.buildCache)
	if err != nil {
		return usageError{fmt.Errorf("--build-cache %q: %w (e.g. 5GB, 500MB)", o.buildCache, err)}
	}
	eng, err := engine.New(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	opts := cleanup.Options{
		TempDirs:        []string{cfg.Backup.Dir, filepath.Join(cfg.Dir, "deploy"), filepath.Join(cfg.Dir, "deploy", "nginx"), cfg.Dir, os.TempDir()},
		ReleaseImages:   cfg.Project + "-web",
		KeepImages:      o.keepImages,
		BuildCacheLimit: limit,
	}
	if mp, err := eng.VolumeMountpoint(ctx, cfg.Project+"_media"); err == nil {
		opts.TempDirs = append(opts.TempDirs, filepath.Dir(mp)) // restore staging lives beside the data
	}
	items, err := cleanup.Plan(ctx, eng, opts, time.Now())
	if err != nil {
		return err
	}
	verb := "removing"
	if o.dryRun {
		verb = "would remove"
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	var planned int64
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", verb, it.Kind, it.What, humanBytes(it.Size))
		planned += it.Size
	}
	tw.Flush()
	if o.dryRun {
		fmt.Fprintf(g.out, "would free up to %s (%d items; images that share layers free less)\n", humanBytes(planned), len(items))
		return nil
	}
	freed, err := cleanup.Apply(ctx, eng, items, opts)
	fmt.Fprintf(g.out, "freed %s (%d items)\n", humanBytes(freed), len(items))
	return err
}
