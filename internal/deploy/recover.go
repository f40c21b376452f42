package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/backup"
	"github.com/muelle-dev/muelle/internal/engine"
)

// recover loads the history and finishes a deploy or rollback that a
// killed muelle left half done: before the old release stopped, back to
// it; after, forward to the new one. Callers hold the lock.
func (d *Deployer) recover(ctx context.Context) error {
	h, err := d.State.Load()
	if err != nil {
		return err
	}
	d.h = h
	if b := h.Blocked(); b != nil {
		return fmt.Errorf("the %s of %s stopped for an operator: %s\nDeploys and rollbacks wait until that is settled; when the site is right again, run 'muelle releases resolve %s'", b.Operation, b.ID, firstLine(b.Error), b.ID)
	}
	r := h.Unfinished()
	if r == nil {
		return nil
	}
	cause := fmt.Errorf("interrupted (muelle was stopped during %s)", stepName(r.Phase))
	if r.Status == StatusUndoFailed {
		cause = errors.New(r.Error)
		d.Log.Warn("trying again to undo a failed run", "operation", r.Operation, "release", r.ID, "phase", stepName(r.Phase))
	} else {
		d.Log.Warn("finishing an interrupted run", "operation", r.Operation, "release", r.ID, "phase", stepName(r.Phase), "pid", r.PID)
	}
	if r.Status == StatusRunning && (r.Phase == PhaseRetire || r.Phase == PhaseUnmigrate) {
		// The old release was being stopped: the new one stays.
		if err := d.completeForward(ctx, r); err != nil {
			return fmt.Errorf("finishing the interrupted %s of %s: %w", r.Operation, r.ID, err)
		}
		d.Log.Info("interrupted run finished", "release", r.ID, "status", r.Status)
		d.notify(ctx, r, "success", fmt.Sprintf("finished the interrupted %s of %s, which is live", r.Operation, r.ID), nil)
		return nil
	}
	err = d.fail(ctx, r, cause)
	var f *Failure
	if errors.As(err, &f) && f.UndoErr != nil {
		return fmt.Errorf("undoing the interrupted %s of %s: %w", r.Operation, r.ID, f.UndoErr)
	}
	d.Log.Info("interrupted run undone", "release", r.ID, "recovery", r.Recovery)
	return nil
}

// completeForward finishes a run that got as far as retiring the old
// release.
func (d *Deployer) completeForward(ctx context.Context, r *Release) error {
	if r.Operation == "rollback" && r.Restoring != "" {
		// A restore was under way: it stopped the web service, so there
		// is nothing to switch to until it has run again.
		return d.finishRollback(ctx, r, time.Time{}, true)
	}
	if err := d.Stack.removeOneOffs(ctx); err != nil {
		return err
	}
	all, err := d.Stack.webContainers(ctx)
	if err != nil {
		return err
	}
	var fresh []engine.Container
	for _, c := range running(all) {
		if !slices.Contains(r.OldContainers, c.ID) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		return errors.New("its containers are gone; deploy again")
	}
	if err := d.Stack.switchTo(ctx, names(fresh)); err != nil {
		return err
	}
	// This reload may have moved traffic back off old containers that
	// are still running: they drain before they are stopped.
	switched := time.Now()
	if r.Operation == "rollback" {
		return d.finishRollback(ctx, r, switched, false)
	}
	return d.finish(ctx, r, switched)
}

// PhaseUnmigrate is a rollback's last step: the migrations of the release
// rolled back are reversed once it no longer serves.
const PhaseUnmigrate = "unmigrate"

// Rollback goes back to target (a release id or commit prefix; empty: the
// release before the live one) through the same path as a deploy: start
// it next to the live release, wait for health, switch, retire the live
// one, then reverse the migrations the newer release applied.
func (d *Deployer) Rollback(ctx context.Context, opts RollbackOptions) (*Release, error) {
	target, trigger := opts.Target, opts.Trigger
	lock, err := d.State.TryLock("rollback")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if err := d.recover(ctx); err != nil {
		return nil, err
	}
	live := d.h.Live()
	if live == nil {
		return nil, errors.New("no release is live yet: nothing to roll back (muelle deploy records releases)")
	}
	tgt, err := d.rollbackTarget(live, target)
	if err != nil {
		return nil, err
	}
	old, err := d.serving(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.reversible(ctx, live, tgt, opts.Restore); err != nil {
		return nil, err
	}
	r := &Release{Operation: "rollback", ID: tgt.ID, Commit: tgt.Commit, Ref: tgt.Ref, Subject: tgt.Subject, Image: tgt.Image,
		Trigger: trigger, Started: time.Now().UTC(), Status: StatusRunning, PID: os.Getpid(), OldContainers: ids(old),
		Previous: live.ID, PreviousImage: live.Image, Migrations: tgt.Migrations}
	d.Log.Info("rolling back", "from", live.ID, "to", tgt.ID)
	err = d.step(ctx, r, "image", PhaseBuild, func() error {
		if _, err := d.Stack.Eng.Image(ctx, r.Image); err == nil {
			return nil
		}
		d.Log.Info("the release's image is gone; rebuilding it", "image", r.Image)
		return d.build(ctx, r)
	})
	if err == nil {
		err = d.step(ctx, r, "backup", PhaseBackup, func() error {
			e, err := d.Backups.Backup(ctx, backup.Options{DB: true, Reason: "pre-rollback"})
			if err != nil {
				return fmt.Errorf("pre-rollback backup (nothing was changed): %w", err)
			}
			r.Backup = e.ID
			return nil
		})
	}
	var switched time.Time
	if err == nil {
		switched, err = d.startAndSwitch(ctx, r, old)
	}
	if err == nil {
		// The release went live before, but not with today's data and
		// configuration: watched like a deploy, and switched back to the
		// live one if it fails.
		err = d.step(ctx, r, "watch", PhaseWatch, func() error { return d.watchAndWorkers(ctx, r, switched) })
	}
	if err != nil {
		return r, d.fail(ctx, r, err)
	}
	err = d.step(ctx, r, "retire", PhaseRetire, func() error { return d.finishRollback(ctx, r, switched, opts.Restore) })
	summary := fmt.Sprintf("rolled back from %s to %s", r.Previous, r.ID)
	if r.Recovery != "" {
		summary += "; " + r.Recovery
	}
	d.notify(ctx, r, "rollback", summary, err)
	return r, err
}

// RollbackOptions say where to roll back to and what may be lost.
type RollbackOptions struct {
	// Target is a release id or commit prefix; empty: the release before
	// the live one.
	Target  string
	Trigger string
	// Restore accepts restoring a backup (and losing the writes since it)
	// when a migration to undo is irreversible.
	Restore bool
}

// reversible asks Django, with the live release's image, whether the
// migrations applied since tgt can be reversed. When one cannot, going
// back means restoring an older backup and losing every write since it:
// the rollback then needs the operator's consent (opts.Restore), given
// before anything changes.
func (d *Deployer) reversible(ctx context.Context, live, tgt *Release, restore bool) error {
	applied, err := d.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	plan := reversals(tgt.Migrations, applied)
	if len(plan) == 0 {
		return nil
	}
	var irreversible []string
	for _, p := range plan {
		out, err := d.Stack.oneOff(ctx, live.Image, live.ID, "python", "manage.py", "migrate", p.App, p.Target, "--plan")
		if err != nil {
			return fmt.Errorf("asking Django how to reverse %s to %s (nothing was changed): %w: %s", p.App, p.Target, err, tail(out, 10))
		}
		irreversible = append(irreversible, irreversibleIn(out)...)
	}
	if len(irreversible) == 0 {
		return nil
	}
	backupID := d.backupAt(tgt.Migrations)
	what := fmt.Sprintf("rolling back to %s means undoing %s, which Django cannot reverse", tgt.ID, strings.Join(irreversible, ", "))
	if backupID == "" {
		return fmt.Errorf("%s, and no backup has exactly %s's migrations to restore instead (nothing was changed): deploy a fix forward", what, tgt.ID)
	}
	when := ""
	if c, err := d.Backups.Store.Load(); err == nil {
		if e, err := c.Find(backupID); err == nil {
			when = " (taken " + e.Created.Local().Format("2006-01-02 15:04") + ")"
		}
	}
	if d.Cfg.Deploy.Irreversible == "stop" {
		return fmt.Errorf("%s; deploy.irreversible is stop, so muelle will not restore backup %s%s (nothing was changed): deploy a fix forward, or restore it yourself", what, backupID, when)
	}
	if !restore {
		return fmt.Errorf("%s: muelle would restore backup %s%s, losing every write since (nothing was changed). Run the rollback again with --restore to accept that, or deploy a fix forward", what, backupID, when)
	}
	d.Log.Warn("an irreversible migration is in the way: the rollback restores a backup", "migrations", strings.Join(irreversible, " "), "backup", backupID)
	return nil
}

// rollbackTarget picks the release to go back to.
func (d *Deployer) rollbackTarget(live *Release, target string) (*Release, error) {
	if target != "" {
		t := d.h.Find(target)
		if t == nil || t.Image == "" || t.Status == StatusFailed || t.Status == StatusRunning {
			return nil, fmt.Errorf("no release %q that went live is in the history ('muelle releases' lists them)", target)
		}
		if t.ID == live.ID {
			return nil, fmt.Errorf("release %s is already live", t.ID)
		}
		return t, nil
	}
	for i := len(d.h.Releases) - 1; i >= 0; i-- {
		t := &d.h.Releases[i]
		if t.Seq < live.Seq && t.ID != live.ID && (t.Status == StatusSuperseded || t.Status == StatusRolledBack) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no release before %s in the history to roll back to", live.ID)
}

// finishRollback retires the release rolled back from, then reverses the
// migrations it applied beyond the target's; mayRestore allows restoring
// a backup when that fails.
func (d *Deployer) finishRollback(ctx context.Context, r *Release, switched time.Time, mayRestore bool) error {
	if wait := time.Until(switched.Add(d.Cfg.Deploy.Drain)); wait > 0 {
		time.Sleep(wait)
	}
	if r.Restoring == "" {
		if err := d.Stack.retire(ctx, r.OldContainers); err != nil {
			return err
		}
		if err := d.Stack.switchTo(ctx, nil); err != nil {
			return err
		}
		r.Phase = PhaseUnmigrate
		if err := d.save(r); err != nil {
			return err
		}
	}
	backupID := r.Restoring
	if backupID == "" {
		backupID = d.backupAt(r.Migrations)
	}
	note, err := d.undoMigrations(ctx, r, r.PreviousImage, r.Previous, r.Migrations, true, backupID, r.Image, r.ID, mayRestore || r.Restoring != "")
	r.Recovery = note
	if err != nil {
		r.Error = err.Error()
	}
	if err != nil && r.Restoring != "" {
		// The restore failed part way: the rollback stays unfinished, and
		// the next deploy or rollback restores again.
		return errors.Join(err, d.save(r))
	}
	if img, ierr := d.Stack.Eng.Image(ctx, r.Image); ierr == nil {
		_ = d.Stack.Eng.Tag(ctx, img.ID, d.Stack.Proj.Name+"-web:latest") // the compose default follows the live release
	}
	operator := r.Status == StatusOperator
	rolledFrom := d.h.Live()
	d.goLive(r)
	if rolledFrom != nil && rolledFrom.Seq != r.Seq {
		rolledFrom.Status = StatusRolledBack
	}
	if operator {
		// It serves, but the schema is not its own: deploys wait for the
		// operator ('muelle releases resolve' records it live).
		r.Status = StatusOperator
	}
	if serr := d.save(r); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// backupAt returns the newest backup whose database had exactly the given
// migrations applied, or "".
func (d *Deployer) backupAt(migrations []string) string {
	c, err := d.Backups.Store.Load()
	if err != nil {
		return ""
	}
	want := slices.Sorted(slices.Values(migrations))
	for i := len(c.Backups) - 1; i >= 0; i-- {
		e := c.Backups[i]
		if e.DB != nil && slices.Equal(slices.Sorted(slices.Values(e.DB.Migrations)), want) {
			return e.ID
		}
	}
	return ""
}

// Resolve records that the operator settled a release that stopped for
// them (needs-operator) or whose undo failed (undo-failed): it is marked
// failed, its journal cleared, and deploys and rollbacks run again. muelle
// changes nothing else: the site is as the operator left it.
func (d *Deployer) Resolve(ctx context.Context, id, by string) (*Release, error) {
	lock, err := d.State.TryLock("resolve")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	h, err := d.State.Load()
	if err != nil {
		return nil, err
	}
	d.h = h
	r := h.Find(id)
	if r == nil {
		return nil, fmt.Errorf("no release %q in the history ('muelle releases' lists them)", id)
	}
	switch r.Status {
	case StatusOperator, StatusUndoFailed, StatusRunning:
	default:
		return nil, fmt.Errorf("release %s is %s: there is nothing to resolve", r.ID, r.Status)
	}
	note := fmt.Sprintf("resolved by hand (%s, was %s)", by, r.Status)
	if r.Recovery != "" {
		note = r.Recovery + "; " + note
	}
	status := StatusFailed
	if r.Phase == PhaseCompleted {
		status = StatusLive // a rollback that serves, stopped over its migrations
	}
	r.Status, r.Recovery, r.Finished = status, note, time.Now().UTC()
	r.PID, r.OldContainers, r.NewContainers, r.Restoring = 0, nil, nil, ""
	if err := d.save(r); err != nil {
		return nil, err
	}
	d.Log.Info("release resolved by hand", "release", r.ID, "by", by)
	return r, nil
}

// MaintenanceOn says whether nginx's maintenance page is switched on.
func (d *Deployer) MaintenanceOn() bool {
	_, err := os.Stat(nginxMaintenance{d.Stack}.flag())
	return err == nil
}
