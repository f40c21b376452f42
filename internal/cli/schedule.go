package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/atomicfile"
	"github.com/muelle-dev/muelle/internal/backup"
	"github.com/muelle-dev/muelle/internal/config"
	"github.com/muelle-dev/muelle/internal/schedule"
	"github.com/spf13/cobra"
)

// jobsOf turns the configured schedule into jobs on the backup manager.
func jobsOf(b *backupEnv) []schedule.Job {
	run := map[string]func(ctx context.Context) error{
		"backup": func(ctx context.Context) error {
			_, err := b.manager.Backup(ctx, backup.Options{Reason: "schedule"})
			return err
		},
		"verify": func(ctx context.Context) error {
			_, err := b.manager.Verify(ctx, "")
			return err
		},
		"prune": func(ctx context.Context) error {
			_, err := b.manager.Prune(ctx, b.cfg.Backup.Keep, false)
			return err
		},
	}
	var jobs []schedule.Job
	for _, j := range b.cfg.Schedule.Jobs() {
		jobs = append(jobs, schedule.Job{Name: j[0], Spec: j[1], Run: run[j[0]]})
	}
	return jobs
}

func lockDir(cfg *config.Config) string { return filepath.Join(cfg.Backup.Dir, "locks") }

func newScheduleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Run the periodic jobs (backup, verify, prune) on their schedules",
		Long: `Run the jobs of muelle.yaml's schedule section: backup (default 03:00 UTC),
verify of the newest backup (04:30) and prune (05:00). Two runs of the same
job never overlap, also between 'schedule run' and crontab-started runs: a
run that finds the previous one still going is skipped and logged.`,
	}
	o := stackOptions{}
	run := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Run the scheduler in the foreground until interrupted",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := openBackups(cmd.Context(), g, &o, args)
			if err != nil {
				return err
			}
			defer b.close()
			s, err := schedule.New(jobsOf(b), lockDir(b.cfg), g.progressLogger())
			if err != nil {
				return err
			}
			return s.Run(cmd.Context(), 10*time.Minute)
		},
	}
	o.flags(run)
	o2 := stackOptions{}
	var dir string
	once := &cobra.Command{
		Use:   "once JOB [--dir DIR]",
		Short: "Run one job now, unless a run of it is still going (what crontab entries call)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := openBackups(cmd.Context(), g, &o2, []string{dir})
			if err != nil {
				return err
			}
			defer b.close()
			for _, j := range jobsOf(b) {
				if j.Name == args[0] {
					err := schedule.RunLocked(cmd.Context(), j, lockDir(b.cfg), g.progressLogger())
					if errors.Is(err, schedule.ErrSkipped) {
						return nil
					}
					return err
				}
			}
			return usageError{fmt.Errorf("no job %q in the schedule: choose from backup, verify, prune (and check it is not off)", args[0])}
		},
	}
	o2.flags(once)
	once.Flags().StringVar(&dir, "dir", ".", "project directory")
	cmd.AddCommand(run, once)
	return cmd
}

type cronOptions struct {
	stackOptions
	file  string
	print bool
}

func newCronCmd(g *globals) *cobra.Command {
	o := cronOptions{}
	cmd := &cobra.Command{Use: "cron", Short: "Run the schedule from cron instead of a muelle daemon"}
	install := &cobra.Command{
		Use:   "install [DIR]",
		Short: "Write /etc/cron.d/muelle-PROJECT with the schedule's jobs",
		Long: `Write a cron.d file that runs each scheduled job with 'muelle schedule once'
(so runs never overlap), logging to /var/log/muelle-PROJECT.log. For servers
that run no muelle daemon. --print shows the file instead of writing it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.load(args)
			if err != nil {
				return err
			}
			return runCronInstall(g, cfg, o)
		},
	}
	o.flags(install)
	install.Flags().StringVar(&o.file, "file", "", "where to write (default /etc/cron.d/muelle-PROJECT)")
	install.Flags().BoolVar(&o.print, "print", false, "print the entries instead of writing them")
	cmd.AddCommand(install)
	return cmd
}

func runCronInstall(g *globals, cfg *config.Config, o cronOptions) error {
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# muelle's scheduled jobs for %s, written by 'muelle cron install'.\n# Times are UTC where cron honours CRON_TZ (cronie); Debian's cron reads them in the system time zone.\n", cfg.Project)
	b.WriteString("CRON_TZ=UTC\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
	for _, j := range cfg.Schedule.Jobs() {
		if strings.HasPrefix(j[1], "@every") {
			return fmt.Errorf("schedule.%s %q: cron has no @every; use five cron fields", j[0], j[1])
		}
		fmt.Fprintf(&b, "%s root %s schedule once %s --dir %s --project-name %s >> /var/log/muelle-%s.log 2>&1\n",
			j[1], bin, j[0], shellQuote(cfg.Dir), cfg.Project, cfg.Project)
	}
	if o.print {
		fmt.Fprint(g.out, b.String())
		return nil
	}
	file := o.file
	if file == "" {
		file = "/etc/cron.d/muelle-" + cfg.Project
	}
	if err := atomicfile.Write(file, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(g.out, "wrote %s; cron picks it up by itself (logs: /var/log/muelle-%s.log)\n", file, cfg.Project)
	return nil
}

func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
