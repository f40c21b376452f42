package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/backup"
	"github.com/muelle-dev/muelle/internal/config"
	"github.com/muelle-dev/muelle/internal/engine"
	"github.com/muelle-dev/muelle/internal/notify"
)

// Deployer deploys and rolls back one project.
type Deployer struct {
	Cfg    *config.Config
	Stack  *Stack
	State  *State
	Source Source
	// Backups takes the pre-deploy backup and restores it when a migration
	// cannot be reversed.
	Backups *backup.Manager
	DB      backup.Database
	Notify  *notify.Notifier
	Log     *slog.Logger
	// Out receives build and compose output (io.Discard to hide it).
	Out io.Writer
	// EnvCheck validates the production env file; an error refuses the deploy.
	EnvCheck func() error

	h *History
}

// Options say what to deploy and why.
type Options struct {
	// Ref is a branch, tag or commit; empty means the configured branch.
	Ref string
	// Trigger says who or what started the deploy, for the history.
	Trigger string
	// Wait waits for a deploy or rollback that holds the lock, instead of
	// failing at once.
	Wait bool
}

// Deploy deploys a release. On failure the previous release keeps (or
// goes back to) serving, the database included, and the error says what
// failed and what was undone.
func (d *Deployer) Deploy(ctx context.Context, opts Options) (*Release, error) {
	lock, err := d.State.TryLock("deploy")
	if opts.Wait && errors.Is(err, ErrLocked) {
		d.Log.Info("waiting for the running deploy or rollback to finish")
		lock, err = d.State.WaitLock(ctx, "deploy")
	}
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if err := d.recover(ctx); err != nil {
		return nil, err
	}

	old, err := d.serving(ctx)
	if err != nil {
		return nil, err
	}
	if d.h.Live() == nil {
		if err := d.adopt(ctx, old); err != nil {
			return nil, err
		}
	}
	r := &Release{Operation: "deploy", Trigger: opts.Trigger, Started: time.Now().UTC(), Status: StatusRunning,
		PID: os.Getpid(), OldContainers: ids(old)}
	r.Previous, r.PreviousImage = d.previous(ctx, old)

	var commit Commit
	err = d.step(ctx, r, "resolve", "", func() error {
		if commit, err = d.Source.Resolve(ctx, opts.Ref); err != nil {
			return err
		}
		r.ID, r.Commit, r.Ref, r.Subject = commit.ID(), commit.Hash, commit.Ref, commit.Subject
		r.Image = fmt.Sprintf("%s-web:%s", d.Stack.Proj.Name, r.ID)
		if d.Source.Tracked(ctx, d.Cfg.EnvFile) {
			d.Log.Warn("the env file is committed to git, secrets included: remove it from the repository (git rm --cached), add it to .gitignore and rotate its secrets", "file", d.Cfg.EnvFile)
		}
		return d.EnvCheck()
	})
	if err == nil {
		d.Log.Info("deploying", "release", r.ID, "ref", r.Ref, "subject", r.Subject, "previous", r.Previous)
		err = d.step(ctx, r, "build", PhaseBuild, func() error { return d.build(ctx, r) })
	}
	if err == nil {
		err = d.backupAndCheck(ctx, r)
	}
	if err == nil {
		err = d.step(ctx, r, "migrate", PhaseMigrate, func() error { return d.migrate(ctx, r) })
	}
	var switched time.Time
	if err == nil {
		switched, err = d.startAndSwitch(ctx, r, old)
	}
	if err == nil {
		err = d.step(ctx, r, "watch", PhaseWatch, func() error { return d.watchAndWorkers(ctx, r, switched) })
	}
	if err != nil {
		return r, d.fail(ctx, r, err)
	}
	err = d.step(ctx, r, "retire", PhaseRetire, func() error { return d.finish(ctx, r, switched) })
	if err != nil {
		// The new release serves; only the cleanup of the old one failed.
		d.Log.Warn("the new release is live, but retiring the old one failed", "err", err)
	}
	d.notify(ctx, r, "success", fmt.Sprintf("deployed %s (%s)", r.ID, r.Subject), nil)
	return r, nil
}

// startAndSwitch starts r's web containers next to old, waits until they
// are healthy and ready, and switches traffic to them (steps start and
// switch). It returns when the switch happened.
func (d *Deployer) startAndSwitch(ctx context.Context, r *Release, old []engine.Container) (time.Time, error) {
	var fresh []engine.Container
	err := d.step(ctx, r, "start", PhaseStart, func() error {
		var err error
		fresh, err = d.Stack.startNext(ctx, r.Image, r.ID, old, max(len(old), 1), d.Out)
		r.NewContainers = ids(fresh)
		if serr := d.save(r); serr != nil {
			return serr
		}
		if err != nil {
			return err
		}
		return d.Stack.waitHealthy(ctx, fresh, d.Cfg.Deploy.HealthTimeout)
	})
	if err != nil {
		return time.Time{}, err
	}
	var switched time.Time
	err = d.step(ctx, r, "switch", PhaseSwitch, func() error {
		switched = time.Now()
		return d.Stack.switchTo(ctx, names(fresh))
	})
	return switched, err
}

// watchAndWorkers updates the worker services to r while it watches r
// through nginx (step watch): the watch runs from the switch, so a release
// that fails through nginx is caught while the workers are still being
// updated, and its window ends deploy.watch after they are. A failure of
// either stops the other.
func (d *Deployer) watchAndWorkers(ctx context.Context, r *Release, switched time.Time) error {
	workersCtx, cancelWorkers := context.WithCancel(ctx)
	defer cancelWorkers()
	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	done := make(chan struct{})
	var ws Step
	var werr error
	go func() {
		defer close(done)
		if len(d.Cfg.Deploy.Workers) == 0 {
			return
		}
		ws, werr = d.timed(r.ID, "workers", func() error { return d.updateWorkers(workersCtx, r.Image, r.ID) })
		if werr != nil {
			cancelWatch()
		}
	}()
	err := d.watch(watchCtx, switched, done)
	cancelWorkers()
	<-done
	if ws.Name != "" {
		r.Steps = append(r.Steps, ws)
	}
	if werr != nil {
		return werr
	}
	return err
}

// serving returns the web containers serving now.
func (d *Deployer) serving(ctx context.Context) ([]engine.Container, error) {
	all, err := d.Stack.webContainers(ctx)
	if err != nil {
		return nil, err
	}
	old := running(all)
	if len(old) == 0 {
		return nil, errors.New("no web container is running: start the stack with 'muelle up' first")
	}
	if _, err := d.Stack.nginx(ctx); err != nil {
		return nil, err
	}
	return old, nil
}

// previous names the release serving now and its image.
func (d *Deployer) previous(ctx context.Context, old []engine.Container) (string, string) {
	if live := d.h.Live(); live != nil {
		return live.ID, live.Image
	}
	return "unknown", old[0].Image
}

var tagRe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// adopt records the release that `muelle up` started as the first live
// one, with its image tagged by its release id, so the first deploy can be
// rolled back to it.
func (d *Deployer) adopt(ctx context.Context, old []engine.Container) error {
	var out bytes.Buffer
	id := "initial"
	if err := d.Stack.Proj.Exec(ctx, WebService, nil, &out, "printenv", "MUELLE_RELEASE"); err == nil {
		if v := strings.Trim(tagRe.ReplaceAllString(strings.TrimSpace(out.String()), "-"), "-."); v != "" && len(v) <= 100 {
			id = v
		}
	}
	image := fmt.Sprintf("%s-web:%s", d.Stack.Proj.Name, id)
	if err := d.Stack.Eng.Tag(ctx, old[0].ImageID, image); err != nil {
		return err
	}
	migrations, err := d.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	r := &Release{ID: id, Image: image, Operation: "up", Trigger: "muelle up", Started: old[0].Created.UTC(),
		Finished: time.Now().UTC(), Status: StatusLive, Phase: PhaseCompleted, Migrations: migrations}
	d.Log.Info("recorded the running release as the first one", "release", id, "image", image)
	return d.save(r)
}

// step journals the phase, runs fn, and records its duration and error.
func (d *Deployer) step(ctx context.Context, r *Release, name, phase string, fn func() error) error {
	if phase != "" {
		r.Phase = phase
	}
	if err := d.save(r); err != nil {
		return err
	}
	s, err := d.timed(r.ID, name, fn)
	r.Steps = append(r.Steps, s)
	if serr := d.save(r); serr != nil && err == nil {
		err = serr
	}
	return err
}

// timed runs fn as the step name of release id, logging its start, end
// and duration.
func (d *Deployer) timed(id, name string, fn func() error) (Step, error) {
	start := time.Now()
	d.Log.Info("step started", "step", name, "release", id)
	err := fn()
	s := Step{Name: name, Started: start.UTC(), Took: time.Since(start)}
	if err != nil {
		s.Error = err.Error()
		d.Log.Error("step failed", "step", name, "release", id, "took", s.Took.Round(time.Millisecond), "err", err)
	} else {
		d.Log.Info("step done", "step", name, "release", id, "took", s.Took.Round(time.Millisecond))
	}
	return s, err
}

// backupAndCheck takes the pre-deploy backup while the pre-deploy checks
// run (steps backup and checks). Neither changes anything, so the deploy
// waits for the longer of the two rather than for both in turn. A failed
// backup is reported first: it is the one that says the database is in
// trouble.
func (d *Deployer) backupAndCheck(ctx context.Context, r *Release) error {
	image, id := r.Image, r.ID
	checked := make(chan struct{})
	var cs Step
	var checkErr error
	go func() {
		defer close(checked)
		cs, checkErr = d.timed(id, "checks", func() error { return d.checks(ctx, image, id) })
	}()
	err := d.step(ctx, r, "backup", PhaseBackup, func() error {
		e, err := d.Backups.Backup(ctx, backup.Options{DB: true, Reason: "pre-deploy"})
		if err != nil {
			return fmt.Errorf("pre-deploy backup (nothing was changed): %w", err)
		}
		r.Backup = e.ID
		return nil
	})
	// The checks' one-off container is waited for, not abandoned.
	<-checked
	r.Steps = append(r.Steps, cs)
	if err == nil && checkErr != nil {
		r.Phase, err = PhaseChecks, checkErr
	}
	if serr := d.save(r); serr != nil && err == nil {
		err = serr
	}
	return err
}

// save writes r into the history (adding it the first time).
func (d *Deployer) save(r *Release) error {
	if r.Seq == 0 {
		for _, x := range d.h.Releases {
			r.Seq = max(r.Seq, x.Seq)
		}
		r.Seq++
		d.h.Releases = append(d.h.Releases, *r)
	} else if x := d.h.bySeq(r.Seq); x != nil {
		*x = *r
	}
	return d.State.save(d.h)
}

// build builds the release's image from the commit, unless it exists.
func (d *Deployer) build(ctx context.Context, r *Release) error {
	if img, err := d.Stack.Eng.Image(ctx, r.Image); err == nil && img.Labels["dev.muelle.commit"] == r.Commit {
		d.Log.Info("image exists; not rebuilding", "image", r.Image)
		return nil
	}
	spec, err := d.buildSpec(ctx)
	if err != nil {
		return err
	}
	spec.Args["MUELLE_RELEASE"] = &r.ID
	tarball, err := d.Source.Archive(ctx, r.Commit)
	if err != nil {
		return err
	}
	defer tarball.Close()
	var tailBuf tailWriter
	err = d.Stack.Eng.Build(ctx, tarball, engine.BuildOptions{
		Tags:       []string{r.Image},
		BuildArgs:  spec.Args,
		Dockerfile: spec.Dockerfile,
		Labels:     map[string]string{"dev.muelle.project": d.Stack.Proj.Name, "dev.muelle.release": r.ID, "dev.muelle.commit": r.Commit},
	}, io.MultiWriter(d.Out, &tailBuf))
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tailBuf.String())
	}
	return nil
}

type buildSpec struct {
	Dockerfile string
	Args       map[string]*string
}

// buildSpec reads the web service's build section, interpolated, from
// the compose file.
func (d *Deployer) buildSpec(ctx context.Context) (buildSpec, error) {
	out, err := d.Stack.Proj.Output(ctx, "config", "--format", "json")
	if err != nil {
		return buildSpec{}, err
	}
	var cfg struct {
		Services map[string]struct {
			Build *struct {
				Context    string            `json:"context"`
				Dockerfile string            `json:"dockerfile"`
				Args       map[string]string `json:"args"`
			} `json:"build"`
		} `json:"services"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return buildSpec{}, fmt.Errorf("docker compose config: %w", err)
	}
	web, ok := cfg.Services[WebService]
	if !ok || web.Build == nil {
		return buildSpec{}, fmt.Errorf("%s has no build section for the web service: deploys build the app image from it", d.Cfg.ComposeFile)
	}
	if c := filepath.Clean(web.Build.Context); c != filepath.Clean(d.Stack.Proj.Dir) {
		return buildSpec{}, fmt.Errorf("the web service builds from %s; deploys build from the project directory (%s): set its build context to .", c, d.Stack.Proj.Dir)
	}
	spec := buildSpec{Dockerfile: web.Build.Dockerfile, Args: map[string]*string{}}
	for k, v := range web.Build.Args {
		spec.Args[k] = &v
	}
	return spec, nil
}

// checks runs Django's deploy checks and the project's own in a one-off
// container of the new image.
func (d *Deployer) checks(ctx context.Context, image, release string) error {
	cmds := [][]string{{"python", "manage.py", "check", "--deploy"}}
	for _, c := range d.Cfg.Deploy.Checks {
		cmds = append(cmds, []string{"sh", "-c", c})
	}
	for _, c := range cmds {
		out, err := d.Stack.oneOff(ctx, image, release, c...)
		if err != nil {
			return fmt.Errorf("pre-deploy check %q failed (nothing was changed): %w\n%s", strings.Join(c, " "), err, tail(out, 20))
		}
	}
	return nil
}

// migrate applies the new release's migrations and records which.
func (d *Deployer) migrate(ctx context.Context, r *Release) error {
	before, err := d.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	r.MigrationsBefore, r.BeforeKnown = before, true
	if err := d.save(r); err != nil {
		return err
	}
	out, runErr := d.Stack.oneOff(ctx, r.Image, r.ID, "python", "manage.py", "migrate", "--noinput")
	after, err := d.appliedMigrations(ctx)
	if err == nil {
		r.Applied = newSince(before, after)
	}
	if runErr != nil {
		return fmt.Errorf("migrations failed: %w\n%s", runErr, tail(out, 20))
	}
	if len(r.Applied) > 0 {
		d.Log.Info("migrations applied", "release", r.ID, "migrations", strings.Join(r.Applied, " "))
	}
	return err
}

// updateWorkers recreates the worker services on the new image.
func (d *Deployer) updateWorkers(ctx context.Context, image, release string) error {
	if len(d.Cfg.Deploy.Workers) == 0 {
		return nil
	}
	args := append([]string{"up", "--detach", "--no-deps", "--wait"}, d.Cfg.Deploy.Workers...)
	return d.Stack.at(image, release).Run(ctx, d.Out, d.Out, args...)
}

// watch checks the new release through nginx, counting nginx's answers
// from since, until deploy.watch after begun is closed (the workers are
// updated).
func (d *Deployer) watch(ctx context.Context, since time.Time, begun <-chan struct{}) error {
	var end time.Time // set once begun is closed
	answers := &answerCount{last: since}
	fails := 0
	lastProbe := time.Time{}
	for {
		if end.IsZero() {
			select {
			case <-begun:
				end = time.Now().Add(d.Cfg.Deploy.Watch)
			default:
			}
		}
		// nginx's answers every 250 ms: under load a broken release shows
		// in its log well before a probe would notice.
		if err := d.errorRate(ctx, answers); err != nil {
			return err
		}
		if time.Since(lastProbe) >= time.Second {
			lastProbe = time.Now()
			if err := d.Stack.readyThroughNginx(ctx); err != nil {
				if fails++; fails >= 3 {
					return fmt.Errorf("after the switch, readiness through nginx failed 3 times: %w", err)
				}
			} else {
				fails = 0
			}
		}
		if !end.IsZero() && time.Now().After(end) {
			return nil
		}
		pause := 250 * time.Millisecond
		if !end.IsZero() {
			pause = min(pause, time.Until(end)+time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

func (d *Deployer) errorRate(ctx context.Context, c *answerCount) error {
	if err := d.Stack.countAnswers(ctx, c); err != nil {
		d.Log.Warn("could not read nginx's log", "err", err)
		return nil
	}
	total, failed := c.total, c.failed
	if total >= 20 && float64(failed)/float64(total) > d.Cfg.Deploy.MaxErrorRate {
		return fmt.Errorf("after the switch, %d of %d answers through nginx were 5xx (more than %.0f%%)", failed, total, 100*d.Cfg.Deploy.MaxErrorRate)
	}
	return nil
}

// finish retires the old containers once they have drained, points nginx
// back at the service name (now only the new containers), and records the
// release as live.
func (d *Deployer) finish(ctx context.Context, r *Release, switched time.Time) error {
	if wait := time.Until(switched.Add(d.Cfg.Deploy.Drain)); wait > 0 {
		time.Sleep(wait)
	}
	var errs []error
	if err := d.Stack.retire(ctx, r.OldContainers); err != nil {
		// An old container may still run: nginx keeps naming the new
		// containers, as the service name would take in the old ones too.
		errs = append(errs, fmt.Errorf("%w (nginx keeps sending traffic to the new containers only; remove the old ones with docker rm -f)", err))
	} else {
		errs = append(errs, d.Stack.switchTo(ctx, nil))
	}
	if img, err := d.Stack.Eng.Image(ctx, r.Image); err == nil {
		// The default image of the compose file is the live release.
		errs = append(errs, d.Stack.Eng.Tag(ctx, img.ID, d.Stack.Proj.Name+"-web:latest"))
	}
	if m, err := d.appliedMigrations(ctx); err == nil {
		r.Migrations = m
	} else {
		errs = append(errs, err)
	}
	d.goLive(r)
	errs = append(errs, d.save(r))
	return errors.Join(errs...)
}

// goLive marks r live and the release it replaces superseded.
func (d *Deployer) goLive(r *Release) {
	if live := d.h.Live(); live != nil && live.Seq != r.Seq {
		live.Status = StatusSuperseded
	}
	r.Status, r.Phase, r.Finished = StatusLive, PhaseCompleted, time.Now().UTC()
	r.OldContainers, r.NewContainers, r.PID = nil, nil, 0
}

func names(cs []engine.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// tailWriter keeps the last 4 KiB written to it and shows its last 15
// lines.
type tailWriter struct{ engine.TailBuffer }

func (t *tailWriter) String() string { return tail(t.TailBuffer.String(), 15) }
