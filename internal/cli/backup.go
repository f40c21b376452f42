package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/muelle-dev/muelle/internal/backup"
	"github.com/muelle-dev/muelle/internal/compose"
	"github.com/muelle-dev/muelle/internal/config"
	"github.com/muelle-dev/muelle/internal/deploy"
	"github.com/muelle-dev/muelle/internal/engine"
	"github.com/muelle-dev/muelle/internal/envfile"
	"github.com/spf13/cobra"
)

// backupEnv is what every backup command opens: config, stack, manager.
type backupEnv struct {
	cfg     *config.Config
	proj    compose.Project
	manager *backup.Manager
	eng     *engine.Client
	close   func()
}

func openBackups(ctx context.Context, g *globals, o *stackOptions, args []string) (*backupEnv, error) {
	cfg, err := o.load(args)
	if err != nil {
		return nil, err
	}
	proj, err := projectOf(cfg)
	if err != nil {
		return nil, err
	}
	env, err := envfile.Read(filepath.Join(cfg.Dir, cfg.EnvFile))
	if err != nil {
		return nil, err
	}
	db := backup.Database{Name: env.Values["POSTGRES_DB"], User: env.Values["POSTGRES_USER"]}
	if db.Name == "" || db.User == "" {
		return nil, fmt.Errorf("%s: POSTGRES_DB and POSTGRES_USER are needed to back up the database ('muelle env check')", cfg.EnvFile)
	}
	eng, err := engine.New(ctx)
	if err != nil {
		return nil, err
	}
	m := &backup.Manager{
		Store:       &backup.Store{Dir: cfg.Backup.Dir, Project: cfg.Project},
		Containers:  proj,
		Volumes:     eng,
		DB:          db,
		MediaVolume: cfg.Project + "_media",
		WebServices: []string{"web"},
		Log:         g.progressLogger(),
	}
	if repo := cfg.Backup.Offsite.Repository; repo != "" {
		m.Offsite = &backup.Offsite{Repository: repo, Env: offsiteCredentials(env.Values)}
	}
	return &backupEnv{cfg: cfg, proj: proj, manager: m, eng: eng, close: func() { eng.Close() }}, nil
}

type backupOptions struct {
	stackOptions
	db, media bool
}

func newBackupCmd(g *globals) *cobra.Command {
	o := backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup [DIR]",
		Short: "Back up the database and media files; list, verify and prune backups",
		Long: `Back up the production stack of the project in DIR: the database with
pg_dump (custom format, run in the database container) and the media files
(incrementally: an unchanged tree adds almost nothing). Both by default.
Each backup gets an id and is recorded, with its release, sizes, checksums
and row counts, in the catalogue in backup.dir (muelle.yaml).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd.Context(), g, &o, args)
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&o.db, "db", false, "back up the database (default: database and media)")
	cmd.Flags().BoolVar(&o.media, "media", false, "back up the media files (default: database and media)")
	cmd.AddCommand(newBackupListCmd(g), newBackupVerifyCmd(g), newBackupPruneCmd(g))
	return cmd
}

func runBackup(ctx context.Context, g *globals, o *backupOptions, args []string) error {
	b, err := openBackups(ctx, g, &o.stackOptions, args)
	if err != nil {
		return err
	}
	defer b.close()
	e, err := b.manager.Backup(ctx, backup.Options{DB: o.db, Media: o.media, Reason: "manual"})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out, "backup %s: %s, %s, release %s\n", e.ID, e.Kind(), humanBytes(e.Size()), e.Release)
	return nil
}

func newBackupListCmd(g *globals) *cobra.Command {
	o := stackOptions{}
	cmd := &cobra.Command{
		Use:   "list [DIR]",
		Short: "List the backups: id, kind, time, release, size, verified, where stored",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.load(args)
			if err != nil {
				return err
			}
			return runBackupList(g, &backup.Store{Dir: cfg.Backup.Dir, Project: cfg.Project})
		},
	}
	o.flags(cmd)
	return cmd
}

func runBackupList(g *globals, store *backup.Store) error {
	c, err := store.Load()
	if err != nil {
		return err
	}
	if len(c.Backups) == 0 {
		fmt.Fprintf(g.out, "no backups of %s yet in %s\n", c.Project, store.Dir)
		return nil
	}
	fmt.Fprintf(g.out, "backups of %s in %s\n", c.Project, store.Dir)
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tTIME (UTC)\tRELEASE\tREASON\tSIZE\tVERIFIED\tSTORED")
	for _, e := range c.Backups {
		verified := "no"
		if e.Verified != nil {
			verified = e.Verified.UTC().Format("2006-01-02 15:04")
		}
		stored := "local"
		if e.Offsite != nil {
			stored += " + " + e.Offsite.Repository
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Kind(), e.Created.UTC().Format("2006-01-02 15:04:05"),
			e.Release, e.Reason, humanBytes(e.Size()), verified, stored)
	}
	return tw.Flush()
}

func newBackupVerifyCmd(g *globals) *cobra.Command {
	o := stackOptions{}
	latest := false
	cmd := &cobra.Command{
		Use:   "verify [ID] [--latest] [--dir DIR]",
		Short: "Prove a backup restores: into a throwaway PostgreSQL, with row counts and migrations checked",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !latest {
				return usageError{errors.New("name a backup ID or pass --latest")}
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			b, err := openBackups(cmd.Context(), g, &o, dirArg(cmd))
			if err != nil {
				return err
			}
			defer b.close()
			e, err := b.manager.Verify(cmd.Context(), id)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "backup %s verified: restores, %d tables with their row counts, %d migrations\n", e.ID, len(tablesOf(e)), migrationsOf(e))
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&latest, "latest", false, "verify the newest backup")
	cmd.Flags().String("dir", ".", "project directory")
	return cmd
}

func newBackupPruneCmd(g *globals) *cobra.Command {
	o := stackOptions{}
	dryRun := false
	cmd := &cobra.Command{
		Use:   "prune [DIR]",
		Short: "Remove the backups the retention policy (backup.keep in muelle.yaml) does not keep",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := openBackups(cmd.Context(), g, &o, args)
			if err != nil {
				return err
			}
			defer b.close()
			k := b.cfg.Backup.Keep
			removed, err := b.manager.Prune(cmd.Context(), k, dryRun)
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			for _, e := range removed {
				fmt.Fprintf(g.out, "%s %s (%s, %s)\n", verb, e.ID, e.Kind(), e.Created.UTC().Format("2006-01-02 15:04"))
			}
			fmt.Fprintf(g.out, "%s %d backups (policy: last %d, daily %d, weekly %d, monthly %d)\n", verb, len(removed), k.Last, k.Daily, k.Weekly, k.Monthly)
			return err
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would be removed")
	return cmd
}

type restoreOptions struct {
	stackOptions
	db, media, yes bool
	dir            string
}

func newRestoreCmd(g *globals) *cobra.Command {
	o := restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore ID [--dir DIR]",
		Short: "Restore a backup: safety backup first, maintenance page while the database is replaced",
		Long: `Restore the database and/or media files of backup ID (both by default, as the
backup holds them). A safety backup of the current state is taken first;
nginx answers 503 with a maintenance page while the web service is stopped
and the database replaced; the web service comes back after (migrations run
as on every start). Asks for confirmation unless --yes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd.Context(), g, &o, args[0])
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&o.db, "db", false, "restore the database only")
	cmd.Flags().BoolVar(&o.media, "media", false, "restore the media files only")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&o.dir, "dir", ".", "project directory")
	return cmd
}

func runRestore(ctx context.Context, g *globals, o *restoreOptions, id string) error {
	b, err := openBackups(ctx, g, &o.stackOptions, []string{o.dir})
	if err != nil {
		return err
	}
	defer b.close()
	// Not while a deploy or rollback runs: it may be migrating, or
	// switching the very containers the restore stops.
	st := &deploy.State{Dir: b.cfg.StateDir, Project: b.cfg.Project}
	lock, err := st.TryLock("restore")
	if err != nil {
		return fmt.Errorf("%w; restore after it", err)
	}
	defer lock.Unlock()
	// After a deploy, the web service runs the live release's image.
	if h, err := st.Load(); err == nil {
		if live := h.Live(); live != nil {
			b.proj = b.proj.With("MUELLE_IMAGE="+live.Image, "MUELLE_RELEASE="+live.ID)
		}
	}
	maint := nginxMaintenance{dir: filepath.Join(b.cfg.Dir, "deploy", "nginx"), proj: b.proj}
	if err := maint.check(); err != nil {
		return err
	}
	if !o.yes {
		fmt.Fprintf(g.errOut, "Restoring %s replaces the current data of %s (a safety backup is taken first).\nType yes to go on: ", id, b.cfg.Project)
		answer, _ := bufio.NewReader(g.in).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return errors.New("not confirmed; nothing was changed")
		}
	}
	svc := composeServices{proj: b.proj, out: g.errOut}
	safety, err := b.manager.Restore(ctx, id, backup.RestoreOptions{DB: o.db, Media: o.media}, svc, maint)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out, "restored %s; the state before is in backup %s\n", id, safety.ID)
	return nil
}

// composeServices stops and starts services with docker compose.
type composeServices struct {
	proj compose.Project
	out  io.Writer
}

func (c composeServices) Stop(ctx context.Context, services ...string) error {
	return c.proj.Run(ctx, c.out, c.out, append([]string{"stop"}, services...)...)
}

func (c composeServices) Start(ctx context.Context, services ...string) error {
	return c.proj.Run(ctx, c.out, c.out, append([]string{"up", "--detach", "--wait", "--wait-timeout", "300"}, services...)...)
}

// nginxMaintenance switches the generated nginx site's maintenance page
// with a flag file it checks on every request.
type nginxMaintenance struct {
	dir  string
	proj compose.Project
}

func (n nginxMaintenance) flag() string { return filepath.Join(n.dir, "maintenance.on") }

// check tells whether the nginx files know the maintenance switch.
func (n nginxMaintenance) check() error {
	if _, err := os.Stat(filepath.Join(n.dir, "maintenance.html")); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s has no maintenance.html, so nginx cannot show a maintenance page: run 'muelle init --force' to update the nginx files", n.dir)
	}
	return nil
}

func (n nginxMaintenance) On(context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	return os.WriteFile(n.flag(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

func (n nginxMaintenance) Off(ctx context.Context) error {
	// The web containers may have new addresses after their restart: nginx
	// resolves them again on reload, done while the maintenance page still
	// shows so no request goes to an old address. Best effort.
	if n.proj.Name != "" {
		if n.proj.Exec(ctx, "nginx", nil, io.Discard, "nginx", "-s", "reload") == nil {
			time.Sleep(time.Second)
		}
	}
	if err := os.Remove(n.flag()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// offsiteCredentials hands the storage backend's variables from the env
// file to restic; muelle's own environment is passed through as well.
func offsiteCredentials(values map[string]string) []string {
	var env []string
	for name, v := range values {
		for _, p := range backup.CredentialPrefixes {
			if strings.HasPrefix(name, p) {
				env = append(env, name+"="+v)
			}
		}
	}
	return env
}

func dirArg(cmd *cobra.Command) []string {
	d, _ := cmd.Flags().GetString("dir")
	return []string{d}
}

func tablesOf(e *backup.Entry) map[string]int64 {
	if e.DB == nil {
		return nil
	}
	return e.DB.Tables
}

func migrationsOf(e *backup.Entry) int {
	if e.DB == nil {
		return 0
	}
	return len(e.DB.Migrations)
}
