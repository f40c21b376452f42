package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/muelle-dev/muelle/internal/config"
	"github.com/muelle-dev/muelle/internal/deploy"
	"github.com/muelle-dev/muelle/internal/envfile"
	"github.com/muelle-dev/muelle/internal/notify"
	"github.com/muelle-dev/muelle/internal/schedule"
	"github.com/muelle-dev/muelle/internal/webhook"
	"github.com/spf13/cobra"
)

var secretVarRe = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// minSecret is the shortest webhook secret serve accepts.
const minSecret = 16

// webhookSecrets resolves a receiver's ${VAR} secrets from the env file,
// then muelle's environment. Every problem is reported at once, by
// variable name, never by value.
func webhookSecrets(forge string, f *config.Forge, env map[string]string, envFile string) ([][]byte, []string) {
	var out [][]byte
	var problems []string
	for _, s := range f.Secrets {
		m := secretVarRe.FindStringSubmatch(s)
		if m == nil {
			problems = append(problems, fmt.Sprintf("serve.%s.secrets: write each as ${VAR}", forge))
			continue
		}
		v, ok := env[m[1]]
		if !ok || v == "" {
			v = os.Getenv(m[1])
		}
		switch {
		case v == "":
			problems = append(problems, fmt.Sprintf("serve.%s.secrets: %s is unset or empty; set it in %s (the same value as in the webhook's settings at the forge)", forge, m[1], envFile))
		case len(v) < minSecret:
			problems = append(problems, fmt.Sprintf("serve.%s.secrets: %s is shorter than %d characters; use a long random one (openssl rand -hex 32)", forge, m[1], minSecret))
		default:
			out = append(out, []byte(v))
		}
	}
	return out, problems
}

type serveOptions struct {
	stackOptions
}

func newServeCmd(g *globals) *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [DIR]",
		Short: "Run the daemon: webhook endpoints that deploy on push, and the scheduled jobs",
		Long: `Run muelle's daemon for the project in DIR, logging JSON to stderr:

  POST /hooks/github   GitHub (X-Hub-Signature-256), push or workflow_run
  POST /hooks/gitlab   GitLab (X-Gitlab-Token), push
  POST /hooks/gitea    Gitea and Forgejo (X-Gitea-Signature), push
  GET  /healthz        the daemon is up

for the receivers configured under serve: in muelle.yaml, plus the backup,
verify and prune schedules. A delivery's signature is checked before
anything in it is read; a push to deploy.branch of the configured
repository queues a deploy of exactly that commit and is answered at once
(202). One deploy runs at a time, shared with 'muelle deploy' through the
deploy lock; pushes that arrive meanwhile replace one another. Every
delivery is logged ('muelle webhooks'). SIGTERM stops accepting, lets a
running deploy finish, and exits.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), g, &o, args)
		},
	}
	o.flags(cmd)
	return cmd
}

func runServe(ctx context.Context, g *globals, o *serveOptions, args []string) error {
	// Everything that can be wrong with the configuration is found before
	// anything starts.
	cfg, err := o.load(args)
	if err != nil {
		return err
	}
	forges := cfg.Serve.Forges()
	if len(forges) == 0 {
		return fmt.Errorf("%s: serve has no receivers; configure serve.github (repository, secrets: [\"${GITHUB_WEBHOOK_SECRET}\"]) or serve.gitlab / serve.gitea", filepath.Join(cfg.Dir, config.FileName))
	}
	env, err := envfile.Read(filepath.Join(cfg.Dir, cfg.EnvFile))
	if err != nil {
		return err
	}
	secrets := map[string][][]byte{}
	var problems []string
	for name, f := range forges {
		s, p := webhookSecrets(name, f, env.Values, cfg.EnvFile)
		secrets[name], problems = s, append(problems, p...)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("cannot serve:\n  - %s", strings.Join(problems, "\n  - "))
	}

	log := slog.New(slog.NewJSONHandler(g.errOut, nil))
	d, closeFn, err := openDeployer(ctx, g, &o.stackOptions, args)
	if err != nil {
		return err
	}
	defer closeFn()
	d.Log = log
	d.Backups.Log = log
	d.Notify = notify.New(cfg.Notify, func(k string) (string, bool) { v, ok := env.Values[k]; return v, ok }, log)
	branch := cfg.Deploy.Branch
	if branch == "" {
		if branch, err = d.Source.CurrentBranch(ctx); err != nil {
			return fmt.Errorf("deploy.branch is not set and %w: set deploy.branch in muelle.yaml", err)
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	seen, err := webhook.OpenSeen(filepath.Join(cfg.StateDir, "deliveries"), 7*24*time.Hour, time.Now())
	if err != nil {
		return fmt.Errorf("delivery ids: %w", err)
	}
	defer seen.Close()
	activity, err := webhook.OpenActivityLog(filepath.Join(cfg.StateDir, "webhooks.jsonl"))
	if err != nil {
		return fmt.Errorf("activity log: %w", err)
	}
	defer activity.Close()

	note := func(e webhook.Entry) {
		if err := activity.Write(e); err != nil {
			log.Error("activity log", "err", err, "delivery", e.Delivery, "result", e.Result)
		}
	}
	// A deploy that has started finishes even when the daemon is told to
	// stop: the deploy's own steps are the safe points.
	queue := webhook.NewQueue(context.WithoutCancel(ctx), func(ctx context.Context, j webhook.Job) {
		// A push of a commit the live release already contains (a late
		// delivery, or an old one sent again) would roll production
		// back: only a force push may do that.
		if h, err := d.State.Load(); err == nil && !j.Forced {
			if live := h.Live(); live != nil && live.Commit != "" {
				if old, err := d.Source.IsAncestor(ctx, j.Commit, live.Commit); err == nil && old {
					log.Info("push not deployed: the live release already contains its commit", "commit", j.Commit, "live", live.ID)
					note(webhook.Entry{Time: time.Now().UTC(), Delivery: j.Delivery, Commit: j.Commit, Result: "superseded", Release: live.ID,
						Error: "the live release " + live.ID + " already contains this commit (only a force push deploys an older one)"})
					return
				}
			}
		}
		r, err := d.Deploy(ctx, deploy.Options{Ref: j.Commit, Trigger: j.Trigger, Wait: true})
		e := webhook.Entry{Time: time.Now().UTC(), Delivery: j.Delivery, Commit: j.Commit, Result: "live"}
		if r != nil {
			e.Release = r.ID
		}
		if err != nil {
			e.Result, e.Error = "failed", firstLineOf(err.Error())
		}
		note(e)
	}, func(old, by webhook.Job) {
		note(webhook.Entry{Time: time.Now().UTC(), Delivery: old.Delivery, Commit: old.Commit, Result: "superseded", Error: "replaced by a newer push of " + short(by.Commit)})
	})

	// Deliveries can arrive out of order: a commit replaces a queued one
	// only if it descends from it.
	queue.Newer = func(a, b webhook.Job) bool {
		// Asked while the delivery waits for its answer: git (and a
		// fetch, if the commit is not here yet) gets 5 of GitHub's 10 s.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ok, err := d.Source.IsAncestor(ctx, a.Commit, b.Commit)
		if err != nil {
			log.Warn("cannot order two pushed commits; the later delivery wins", "a", a.Commit, "b", b.Commit, "err", err)
			return true
		}
		return ok
	}

	mux := http.NewServeMux()
	var endpoints []string
	for name, f := range forges {
		rc := (&webhook.Receiver{Forge: name, Secrets: secrets[name], Queue: queue, Seen: seen, Log: activity, Logger: log, TrustedProxies: cfg.Serve.Proxies(),
			Rules: webhook.Rules{Repository: f.Repository, Branch: branch, Trigger: f.Trigger, Workflow: f.Workflow}}).Init()
		mux.Handle("/hooks/"+name, rc)
		endpoints = append(endpoints, "/hooks/"+name)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", cfg.Serve.Listen)
	if err != nil {
		return fmt.Errorf("serve.listen %s: %w", cfg.Serve.Listen, err)
	}

	var wg sync.WaitGroup
	b := &backupEnv{cfg: cfg, manager: d.Backups}
	sched, err := schedule.New(jobsOf(b), lockDir(cfg), log)
	if err != nil {
		ln.Close()
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sched.Run(ctx, 10*time.Minute)
	}()
	wg.Add(1)
	go func() { // delivery ids older than a week are forgotten
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Hour):
				if err := seen.Prune(time.Now()); err != nil {
					log.Error("compacting the delivery ids", "err", err)
				}
			}
		}
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	sort.Strings(endpoints)
	log.Info("muelle serve listening", "addr", ln.Addr().String(), "endpoints", endpoints, "branch", branch, "project", cfg.Project)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down: no new deliveries; a running deploy finishes")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	if dropped := queue.Close(); dropped != nil {
		note(webhook.Entry{Time: time.Now().UTC(), Delivery: dropped.Delivery, Commit: dropped.Commit, Result: "dropped", Error: "muelle serve stopped before it ran; push again or run muelle deploy"})
		log.Warn("a queued deploy was not run", "commit", dropped.Commit, "delivery", dropped.Delivery)
	}
	wg.Wait()
	log.Info("stopped")
	return nil
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
