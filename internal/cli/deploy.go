package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/muelle-dev/muelle/internal/deploy"
	"github.com/muelle-dev/muelle/internal/envfile"
	"github.com/muelle-dev/muelle/internal/notify"
	"github.com/spf13/cobra"
)

// openDeployer assembles a Deployer for the project in args (or ".").
func openDeployer(ctx context.Context, g *globals, o *stackOptions, args []string) (*deploy.Deployer, func(), error) {
	b, err := openBackups(ctx, g, o, args)
	if err != nil {
		return nil, nil, err
	}
	env, err := envfile.Read(filepath.Join(b.cfg.Dir, b.cfg.EnvFile))
	if err != nil {
		b.close()
		return nil, nil, err
	}
	eng := b.eng
	log := g.progressLogger()
	out := io.Discard
	if g.verbose {
		out = g.errOut
	}
	d := &deploy.Deployer{
		Cfg: b.cfg,
		Stack: &deploy.Stack{
			Proj:       b.proj,
			Eng:        eng,
			NginxDir:   filepath.Join(b.cfg.Dir, "deploy", "nginx"),
			Host:       siteHost(splitList(env.Values["DJANGO_ALLOWED_HOSTS"])),
			HealthPath: b.cfg.Deploy.HealthPath,
		},
		State:   &deploy.State{Dir: b.cfg.StateDir, Project: b.cfg.Project},
		Source:  deploy.Source{Dir: b.cfg.Dir, Remote: b.cfg.Deploy.Remote, Branch: b.cfg.Deploy.Branch},
		Backups: b.manager,
		DB:      b.manager.DB,
		Notify: notify.New(b.cfg.Notify, func(k string) (string, bool) {
			v, ok := env.Values[k]
			return v, ok
		}, log),
		Log: log,
		Out: out,
		EnvCheck: func() error {
			env, err := envfile.Read(filepath.Join(b.cfg.Dir, b.cfg.EnvFile))
			if err != nil {
				return err
			}
			problems := envfile.Check(env)
			for _, p := range problems {
				fmt.Fprintln(g.errOut, p)
			}
			if envfile.HasErrors(problems) {
				return errEnvInvalid
			}
			return nil
		},
	}
	return d, b.close, nil
}

// siteHost picks a name ALLOWED_HOSTS accepts, for health checks.
func siteHost(hosts []string) string {
	for _, h := range hosts {
		if h != "*" {
			return strings.TrimPrefix(h, ".")
		}
	}
	return "localhost"
}

type deployOptions struct {
	stackOptions
	ref, trigger string
}

func newDeployCmd(g *globals) *cobra.Command {
	o := deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Deploy a commit with zero downtime: backup, checks, migrations, health-gated switch, automatic rollback",
		Long: `Deploy the project in DIR at a git ref (default: deploy.branch in muelle.yaml,
else the checked-out branch; the remote is fetched first). Steps:

  1. resolve the commit; check the env file
  2. build the image <project>-web:<commit>, from the committed files only
  3. back up the database
  4. run 'manage.py check --deploy' and deploy.checks in a one-off container
  5. apply the migrations, recording which
  6. start the new web containers next to the old ones; wait for Docker's
     health check and for the readiness path, with the site's Host header
  7. switch nginx to them (a graceful reload) and update deploy.workers
  8. watch readiness and 5xx answers through nginx for deploy.watch
  9. stop the old containers; record the release; notify

A failure from step 3 on rolls back by itself: traffic back to the old
containers, the new ones removed, the migrations reversed with Django's
own 'migrate APP TARGET' (or, when one is irreversible, the pre-deploy
backup restored and the lost writes reported). One deploy runs at a time;
one that was interrupted is finished by the next deploy or rollback.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, closeFn, err := openDeployer(cmd.Context(), g, &o.stackOptions, args)
			if err != nil {
				return err
			}
			defer closeFn()
			r, err := d.Deploy(cmd.Context(), deploy.Options{Ref: o.ref, Trigger: triggerOf(o.trigger)})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "release %s is live (%s), deployed in %s; previous: %s\n", r.ID, r.Subject, r.Finished.Sub(r.Started).Round(100*time.Millisecond), r.Previous)
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.ref, "ref", "", "branch, tag or commit to deploy (default: deploy.branch, else the checked-out branch)")
	cmd.Flags().StringVar(&o.trigger, "trigger", "", "who or what starts this deploy, for the history (default: cli by $USER)")
	return cmd
}

type rollbackOptions struct {
	stackOptions
	dir     string
	trigger string
	restore bool
}

func newRollbackCmd(g *globals) *cobra.Command {
	o := rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback [RELEASE] [--dir DIR]",
		Short: "Go back to the previous (or a named) release, migrations included",
		Long: `Roll the live release back to RELEASE (a release id or commit prefix from
'muelle releases'; default: the release before the live one). The same path
as a deploy: a database backup, the old release started next to the live
one and health-checked, a graceful switch, the live one stopped; then the
migrations the newer release applied are reversed. If one is irreversible,
muelle says so before changing anything: with --restore it restores the
newest backup taken at the target's migrations instead, losing the writes
since that backup (reported); with deploy.irreversible: stop it never does.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, closeFn, err := openDeployer(cmd.Context(), g, &o.stackOptions, []string{o.dir})
			if err != nil {
				return err
			}
			defer closeFn()
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			r, err := d.Rollback(cmd.Context(), deploy.RollbackOptions{Target: target, Trigger: triggerOf(o.trigger), Restore: o.restore})
			if err != nil {
				if r != nil && r.Status == deploy.StatusLive {
					return fmt.Errorf("release %s serves again, but: %w", r.ID, err)
				}
				return err
			}
			fmt.Fprintf(g.out, "release %s is live again (rolled back from %s in %s)\n", r.ID, r.Previous, r.Finished.Sub(r.Started).Round(100*time.Millisecond))
			if r.Recovery != "" {
				fmt.Fprintln(g.out, r.Recovery)
			}
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.dir, "dir", ".", "project directory")
	cmd.Flags().StringVar(&o.trigger, "trigger", "", "who or what starts this rollback, for the history")
	cmd.Flags().BoolVar(&o.restore, "restore", false, "when a migration to undo is irreversible, restore the backup taken at the target's migrations (losing the writes since it)")
	return cmd
}

func triggerOf(t string) string {
	if t != "" {
		return t
	}
	if u := currentUser(); u != "" {
		return "cli by " + u
	}
	return "cli"
}

type releasesOptions struct {
	stackOptions
	last int
}

func newReleasesCmd(g *globals) *cobra.Command {
	o := releasesOptions{}
	cmd := &cobra.Command{
		Use:   "releases [DIR]",
		Short: "List deploys and rollbacks: release, status, when, how long, what was undone",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.load(args)
			if err != nil {
				return err
			}
			h, err := (&deploy.State{Dir: cfg.StateDir, Project: cfg.Project}).Load()
			if err != nil {
				return err
			}
			return printReleases(g, h, o.last)
		},
	}
	o.flags(cmd)
	cmd.Flags().IntVarP(&o.last, "last", "n", 20, "show the last N")
	cmd.AddCommand(newResolveCmd(g))
	return cmd
}

type resolveOptions struct {
	stackOptions
	dir string
}

func newResolveCmd(g *globals) *cobra.Command {
	o := resolveOptions{}
	cmd := &cobra.Command{
		Use:   "resolve RELEASE [--dir DIR]",
		Short: "Mark a release that stopped for an operator (or whose undo failed) as settled, so deploys run again",
		Long: `A deploy whose undo failed (status undo-failed) is retried by the next deploy
or rollback; one that stopped in maintenance because a migration could not
be reversed (deploy.irreversible: stop; status needs-operator) blocks them.
Once you have put the site right by hand (for example with 'muelle restore'),
'muelle releases resolve RELEASE' records it as failed and lets deploys run.
It changes nothing else.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, closeFn, err := openDeployer(cmd.Context(), g, &o.stackOptions, []string{o.dir})
			if err != nil {
				return err
			}
			defer closeFn()
			r, err := d.Resolve(cmd.Context(), args[0], triggerOf(""))
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "release %s is recorded as %s; deploys and rollbacks run again\n", r.ID, r.Status)
			if d.MaintenanceOn() {
				fmt.Fprintln(g.out, "the maintenance page is still on: 'muelle restore' lifts it, or remove deploy/nginx/maintenance.on")
			}
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.dir, "dir", ".", "project directory")
	return cmd
}

func printReleases(g *globals, h *deploy.History, last int) error {
	if len(h.Releases) == 0 {
		fmt.Fprintf(g.out, "no releases of %s yet: 'muelle deploy' records them\n", h.Project)
		return nil
	}
	rs := h.Releases
	if last > 0 && len(rs) > last {
		rs = rs[len(rs)-last:]
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tRELEASE\tOPERATION\tSTATUS\tSTARTED (UTC)\tTOOK\tTRIGGER\tBACKUP\tMIGRATIONS\tNOTE")
	for _, r := range rs {
		took := "-"
		if !r.Finished.IsZero() {
			took = r.Finished.Sub(r.Started).Round(100 * time.Millisecond).String()
		}
		note := r.Subject
		if r.Error != "" {
			note = "failed at " + r.Phase + ": " + firstLineOf(r.Error)
		}
		if r.Recovery != "" {
			note += " | " + firstLineOf(r.Recovery)
		}
		switch r.Status {
		case deploy.StatusRunning:
			note = "in progress or interrupted at " + r.Phase + " (the next deploy or rollback finishes it)"
		case deploy.StatusUndoFailed:
			note += " | undo failed: the next deploy or rollback retries it"
		case deploy.StatusOperator:
			note += " | waiting for you: then 'muelle releases resolve " + r.ID + "'"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Seq, r.ID, r.Operation, r.Status,
			r.Started.Format("2006-01-02 15:04:05"), took, dash(r.Trigger), dash(r.Backup), len(r.Applied), note)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 120 {
		l = l[:117] + "..."
	}
	return l
}

func currentUser() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	return os.Getenv("USER")
}
