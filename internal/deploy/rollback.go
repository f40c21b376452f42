package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/backup"
	"github.com/muelle-dev/muelle/internal/engine"
	"github.com/muelle-dev/muelle/internal/notify"
)

// fail undoes a deploy that failed at r.Phase and records the outcome.
// The error returned says what failed and what was undone.
func (d *Deployer) fail(ctx context.Context, r *Release, cause error) error {
	// Undo even if the deploy was interrupted (Ctrl-C): the old release
	// must keep serving.
	ctx = context.WithoutCancel(ctx)
	if r.Status != StatusUndoFailed {
		r.Error = cause.Error() // a retried undo keeps the first cause
	}
	r.failedAt = time.Now()
	undone, err := d.undo(ctx, r)
	r.Recovery = undone
	r.Finished = time.Now().UTC()
	r.PID = 0
	switch {
	case err == nil:
		r.Status = StatusFailed
		r.OldContainers, r.NewContainers, r.Restoring = nil, nil, ""
	case r.Status != StatusOperator:
		// The journal stays: the next deploy or rollback tries again.
		r.Status = StatusUndoFailed
	}
	if serr := d.save(r); serr != nil {
		err = errors.Join(err, serr)
	}
	summary := fmt.Sprintf("%s of %s failed at %s; %s", r.Operation, r.ID, stepName(r.Phase), undone)
	if err != nil {
		summary = fmt.Sprintf("%s of %s failed at %s, and undoing it failed too: operator needed", r.Operation, r.ID, stepName(r.Phase))
		if r.Status == StatusUndoFailed {
			err = fmt.Errorf("%w\nThe next 'muelle deploy' or 'muelle rollback' tries the undo again first; once the site is repaired by hand, 'muelle releases resolve %s' marks it done", err, r.ID)
		}
	}
	d.notify(ctx, r, "failure", summary, err)
	if err != nil {
		return &Failure{Release: r, Cause: cause, UndoErr: err}
	}
	return &Failure{Release: r, Cause: cause}
}

// Failure is a deploy or rollback that failed; Release.Recovery says what
// was undone.
type Failure struct {
	Release *Release
	Cause   error
	UndoErr error
}

func (f *Failure) Error() string {
	msg := fmt.Sprintf("%s of %s failed at %s: %v", f.Release.Operation, f.Release.ID, stepName(f.Release.Phase), f.Cause)
	if f.Release.Recovery != "" {
		msg += "\n" + f.Release.Recovery
	}
	if f.UndoErr != nil {
		msg += fmt.Sprintf("\nundoing it failed: %v", f.UndoErr)
	}
	return msg
}

func (f *Failure) Unwrap() error { return f.Cause }

func stepName(phase string) string {
	if phase == "" {
		return "resolve"
	}
	return phase
}

// undo returns to the previous release: traffic back to the old
// containers, the new ones removed, and the migrations reversed (or the
// pre-deploy backup restored when they cannot be). It says what it did.
func (d *Deployer) undo(ctx context.Context, r *Release) (string, error) {
	switch r.Phase {
	case "", PhaseBuild, PhaseBackup, PhaseChecks:
		// A check's one-off container may be left by a killed muelle.
		if err := d.Stack.removeOneOffs(ctx); err != nil {
			d.Log.Warn("could not remove the checks' one-off containers", "err", err)
		}
		return fmt.Sprintf("nothing was changed; %s still serves", r.Previous), nil
	}
	var did []string
	if r.Restoring != "" {
		// A restore of the pre-deploy backup was under way: traffic had
		// been switched back and the new containers removed before it,
		// and the restore stopped the web service. It is run again, and
		// starts the web service when done.
		dbNote, err := d.undoMigrations(ctx, r, r.Image, r.ID, r.MigrationsBefore, true, r.Backup, r.PreviousImage, r.Previous, true)
		if err != nil {
			return dbNote, err
		}
		if err := d.Stack.switchTo(ctx, nil); err != nil {
			return dbNote, err
		}
		return dbNote + "; " + r.Previous + " serves", nil
	}
	old, err := d.liveContainers(ctx, r.OldContainers)
	if err != nil {
		return "", err
	}
	if len(old) == 0 && r.PreviousImage != "" {
		// Restarted since (by 'muelle up', say): the previous release's
		// running containers are the old ones now.
		all, err := d.Stack.webContainers(ctx)
		if err != nil {
			return "", err
		}
		for _, c := range running(all) {
			if c.Image == r.PreviousImage {
				old = append(old, c)
			}
		}
		r.OldContainers = ids(old)
	}
	if len(old) == 0 {
		return "", fmt.Errorf("no container of the previous release %s is running: start it with 'docker compose -p %s -f %s --env-file %s up -d --no-build --wait web' (its image %s is the compose default) and the next deploy or rollback finishes this undo; or repair by hand and run 'muelle releases resolve %s'", r.Previous, d.Stack.Proj.Name, d.Cfg.ComposeFile, d.Cfg.EnvFile, r.PreviousImage, r.ID)
	}
	// Traffic first: the old release must be the only one served.
	if slices.ContainsFunc(d.Stack.upstreamNames(), func(n string) bool { return !slices.Contains(names(old), n) && n != WebService }) || r.Phase == PhaseSwitch || r.Phase == PhaseWatch {
		if err := d.Stack.switchTo(ctx, names(old)); err != nil {
			return "", fmt.Errorf("switch back to %s: %w", r.Previous, err)
		}
		if !r.failedAt.IsZero() {
			r.SwitchBack = time.Since(r.failedAt)
		}
		did = append(did, fmt.Sprintf("traffic switched back to %s in %s", r.Previous, r.SwitchBack.Round(time.Millisecond)))
		// nginx's reload returns before its old workers stop taking
		// requests; those still go to the new containers: let them drain,
		// as a deploy does the old ones (removing them at once gave 502s).
		select {
		case <-ctx.Done():
			return strings.Join(did, "; "), ctx.Err()
		case <-time.After(d.Cfg.Deploy.Drain):
		}
	}
	// A killed muelle may have left a migrate or check container running:
	// it must be gone before the schema is touched.
	if err := d.Stack.removeOneOffs(ctx); err != nil {
		return strings.Join(did, "; "), err
	}
	if err := d.removeNew(ctx, r, old); err != nil {
		return strings.Join(did, "; "), err
	}
	if len(d.Cfg.Deploy.Workers) > 0 && (r.Phase == PhaseSwitch || r.Phase == PhaseWatch) {
		if err := d.updateWorkers(ctx, r.PreviousImage, r.Previous); err != nil {
			return strings.Join(did, "; "), err
		}
	}
	dbNote, err := d.undoMigrations(ctx, r, r.Image, r.ID, r.MigrationsBefore, r.BeforeKnown, r.Backup, r.PreviousImage, r.Previous, true)
	if dbNote != "" {
		did = append(did, dbNote)
	}
	if err != nil {
		return strings.Join(did, "; "), err
	}
	// Back to the service name: only the old containers are left.
	if err := d.Stack.switchTo(ctx, nil); err != nil {
		return strings.Join(did, "; "), err
	}
	did = append(did, r.Previous+" serves")
	return strings.Join(did, "; "), nil
}

// liveContainers returns the running containers among idList.
func (d *Deployer) liveContainers(ctx context.Context, idList []string) ([]engine.Container, error) {
	all, err := d.Stack.webContainers(ctx)
	if err != nil {
		return nil, err
	}
	var out []engine.Container
	for _, c := range running(all) {
		if slices.Contains(idList, c.ID) {
			out = append(out, c)
		}
	}
	return out, nil
}

// removeNew removes every web container that is not one of old's.
func (d *Deployer) removeNew(ctx context.Context, r *Release, old []engine.Container) error {
	all, err := d.Stack.webContainers(ctx)
	if err != nil {
		return err
	}
	var extra []string
	for _, c := range all {
		if !slices.Contains(ids(old), c.ID) {
			extra = append(extra, c.ID)
		}
	}
	return d.Stack.retire(ctx, extra)
}

// undoMigrations returns the schema to target. It reverses migrations with
// image when Django can; otherwise it restores backupID (or, configured
// with irreversible: stop, leaves the site in maintenance for the operator).
// The web service is restarted at servingImage after a restore. Without
// mayRestore, a reversal that fails stops for the operator instead of
// restoring (a rollback whose operator did not accept the loss).
func (d *Deployer) undoMigrations(ctx context.Context, r *Release, image, release string, target []string, known bool, backupID, servingImage, serving string, mayRestore bool) (string, error) {
	if !known {
		return "", nil // never reached the migrations
	}
	var cause error
	if r.Restoring != "" {
		// A restore was under way when muelle stopped: the database may
		// be half restored, so it is restored again from the start.
		backupID = r.Restoring
		cause = fmt.Errorf("the restore of backup %s was interrupted", backupID)
	} else {
		reversed, err := d.reverseMigrations(ctx, image, release, target)
		var irr *IrreversibleError
		if err != nil && !errors.As(err, &irr) {
			// Perhaps passing (the database restarting, a container
			// name clash): once more before anything loses writes.
			d.Log.Warn("reversing migrations failed; trying once more", "err", err)
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(2 * time.Second):
			}
			reversed, err = d.reverseMigrations(ctx, image, release, target)
		}
		if err == nil {
			if len(reversed) == 0 {
				return "", nil
			}
			return "migrations reversed: " + strings.Join(reversed, ", "), nil
		}
		if !errors.As(err, &irr) {
			d.Log.Error("reversing migrations failed twice; restoring the backup instead", "err", err)
		}
		cause = err
	}
	if backupID == "" {
		return "", fmt.Errorf("%w; and there is no backup to restore", cause)
	}
	if !mayRestore && r.Restoring == "" {
		r.Status = StatusOperator
		return "", fmt.Errorf("%w; the database keeps %s's migrations, and %s serves on them. Restoring backup %s would lose the writes since it: muelle restore %s --yes does that; or repair the schema by hand. Then 'muelle releases resolve %s' lets deploys run again", cause, r.Previous, r.ID, backupID, backupID, r.ID)
	}
	if d.Cfg.Deploy.Irreversible == "stop" && r.Restoring == "" {
		if merr := d.maintenance().On(ctx); merr != nil {
			return "", merr
		}
		r.Status = StatusOperator
		return "", fmt.Errorf("%w; the site is in maintenance (deploy.irreversible: stop). To go back, restore the pre-deploy backup: muelle restore %s --yes (loses the writes since it, and lifts the maintenance page); or repair the schema by hand, then remove %s to lift the maintenance page. Then 'muelle releases resolve %s' lets deploys run again", cause, backupID, d.maintenance().(nginxMaintenance).flag(), r.ID)
	}
	d.Log.Warn("restoring the pre-deploy backup", "backup", backupID, "reason", cause)
	// Journaled first: a muelle killed during the restore leaves the
	// maintenance page on and the database perhaps half restored; the
	// next run restores again.
	r.Restoring = backupID
	if err := d.save(r); err != nil {
		return "", err
	}
	safety, rerr := d.Backups.Restore(ctx, backupID, backup.RestoreOptions{DB: true}, webServices{d: d, image: servingImage, release: serving, n: max(len(r.OldContainers), 1)}, d.maintenance())
	if safety != nil && r.RestoreSafety == "" {
		// The first attempt's safety backup holds the writes since the
		// backup; a retry's would not.
		r.RestoreSafety = safety.ID
		if err := d.save(r); err != nil {
			d.Log.Warn("could not record the safety backup", "err", err)
		}
	}
	if rerr != nil {
		return "", fmt.Errorf("%v; then restoring backup %s failed: %w", cause, backupID, rerr)
	}
	safetyID := r.RestoreSafety
	r.Restoring, r.RestoreSafety = "", ""
	if err := d.save(r); err != nil {
		return "", err
	}
	loss, lost := d.lostWrites(backupID, safetyID)
	if lost {
		r.DataLoss = loss
	}
	return fmt.Sprintf("%v: restored the pre-deploy backup %s; %s", cause, backupID, loss), nil
}

// lostWrites compares the row counts of the pre-deploy backup with those
// of the safety backup taken just before the restore. Counts show rows
// added and removed, not rows updated in place: the safety backup has
// those.
func (d *Deployer) lostWrites(backupID, safetyID string) (string, bool) {
	c, err := d.Backups.Store.Load()
	if err != nil {
		return "writes since the backup may be lost", true
	}
	safety, err := c.Find(safetyID)
	if err != nil || safety.DB == nil {
		return "writes since the backup may be lost", true
	}
	pre, err := c.Find(backupID)
	if err != nil || pre.DB == nil {
		return "writes since the backup may be lost", true
	}
	var diffs []string
	total := int64(0)
	for _, t := range slices.Sorted(maps.Keys(safety.DB.Tables)) {
		before, ok := pre.DB.Tables[t]
		if !ok || strings.HasSuffix(t, ".django_migrations") {
			continue // a table the failed release created; the migrations undone
		}
		if n := safety.DB.Tables[t] - before; n != 0 {
			diffs = append(diffs, fmt.Sprintf("%s %+d", t, n))
			total += abs(n)
		}
	}
	if len(diffs) == 0 {
		return fmt.Sprintf("no rows were added or removed since the backup (row counts match; updates in place are not counted); the state before the restore is kept in backup %s", safety.ID), false
	}
	sort.Strings(diffs)
	return fmt.Sprintf("writes since the backup are lost: %d rows (%s); the state before the restore is kept in backup %s", total, strings.Join(diffs, ", "), safety.ID), true
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// webServices stops and starts the web service around a restore, at the
// release that serves.
type webServices struct {
	d              *Deployer
	image, release string
	n              int // web containers to start
}

func (w webServices) Stop(ctx context.Context, services ...string) error {
	return w.d.Stack.at(w.image, w.release).Run(ctx, w.d.Out, w.d.Out, append([]string{"stop"}, services...)...)
}

func (w webServices) Start(ctx context.Context, services ...string) error {
	args := []string{"up", "--detach", "--no-deps", "--wait"}
	if w.n > 1 && slices.Contains(services, WebService) {
		args = append(args, "--scale", fmt.Sprintf("%s=%d", WebService, w.n))
	}
	args = append(args, services...)
	return w.d.Stack.at(w.image, w.release).Run(ctx, w.d.Out, w.d.Out, args...)
}

// maintenance switches nginx's maintenance page; turning it off also
// reloads nginx, so it resolves the web containers afresh.
func (d *Deployer) maintenance() backup.Maintenance { return nginxMaintenance{d.Stack} }

type nginxMaintenance struct{ s *Stack }

func (m nginxMaintenance) flag() string { return m.s.NginxDir + "/maintenance.on" }

func (m nginxMaintenance) On(context.Context) error {
	return writeFlag(m.flag())
}

// Off reloads nginx while the maintenance page still shows, so that no
// request reaches a web container's old address (a restarted container may
// get a new one), gives the old workers a moment to finish, then lifts it.
func (m nginxMaintenance) Off(ctx context.Context) error {
	if err := m.s.switchTo(ctx, nil); err != nil {
		return err
	}
	time.Sleep(time.Second)
	return removeFlag(m.flag())
}

func (d *Deployer) notify(ctx context.Context, r *Release, kind, summary string, err error) {
	e := notify.Event{Kind: kind, Project: d.Stack.Proj.Name, Operation: r.Operation, Release: r.ID, Previous: r.Previous,
		Trigger: r.Trigger, Started: r.Started, Finished: time.Now().UTC(), Summary: summary, Backup: r.Backup}
	if r.Error != "" {
		e.Error = firstLine(r.Error)
	}
	if err != nil {
		e.Error += "; undo failed: " + firstLine(err.Error())
	}
	e.DataLoss = r.DataLoss
	if live := d.h.Live(); live != nil {
		e.Serving = live.ID
	} else if r.Status == StatusFailed || r.Status == StatusRolledBack {
		e.Serving = r.Previous
	}
	d.Notify.Send(ctx, e)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
