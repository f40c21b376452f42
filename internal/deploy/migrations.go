package deploy

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/muelle-dev/muelle/internal/backup"
)

// appliedMigrations lists the applied Django migrations (app.name) in the
// order they were applied. A database without Django's table has none.
func (d *Deployer) appliedMigrations(ctx context.Context) ([]string, error) {
	var out bytes.Buffer
	sql := `SELECT app || '.' || name FROM django_migrations ORDER BY id;`
	err := d.Stack.exec(ctx, backup.DBService, &out,
		"psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-U", d.DB.User, "-d", d.DB.Name, "-c", sql)
	if err != nil {
		if strings.Contains(err.Error(), `"django_migrations" does not exist`) {
			return nil, nil
		}
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	var list []string
	for _, l := range strings.Split(out.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			list = append(list, l)
		}
	}
	return list, nil
}

// newSince returns the migrations in after that are not in before.
func newSince(before, after []string) []string {
	var out []string
	for _, m := range after {
		if !slices.Contains(before, m) {
			out = append(out, m)
		}
	}
	return out
}

// reversal is one `manage.py migrate APP TARGET` that undoes an app's
// migrations back to where they were.
type reversal struct {
	App, Target string
}

// reversals plans how to return the database from applied to target:
// per app with extra migrations, back to its last migration in target
// ("zero" if none), newest-applied app first.
func reversals(target, applied []string) []reversal {
	extra := newSince(target, applied)
	var out []reversal
	seen := map[string]bool{}
	for i := len(extra) - 1; i >= 0; i-- {
		app, _, _ := strings.Cut(extra[i], ".")
		if seen[app] {
			continue
		}
		seen[app] = true
		to := "zero"
		for _, m := range target {
			if a, name, _ := strings.Cut(m, "."); a == app {
				to = name
			}
		}
		out = append(out, reversal{App: app, Target: to})
	}
	return out
}

// IrreversibleError means a migration to undo has no reverse operation.
type IrreversibleError struct {
	Migrations []string
}

func (e *IrreversibleError) Error() string {
	return fmt.Sprintf("irreversible migration: %s has no reverse operation", strings.Join(e.Migrations, ", "))
}

// reverseMigrations returns the database's schema to target, with
// Django's own `migrate APP TARGET` run from image (the release that has
// the reverse operations). Data written meanwhile survives. It first asks
// Django for the plan, and does nothing if any step is irreversible.
func (d *Deployer) reverseMigrations(ctx context.Context, image, release string, target []string) ([]string, error) {
	applied, err := d.appliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	plan := reversals(target, applied)
	if len(plan) == 0 {
		return nil, nil
	}
	var irreversible []string
	for _, r := range plan {
		out, err := d.Stack.oneOff(ctx, image, release, "python", "manage.py", "migrate", r.App, r.Target, "--plan")
		if err != nil {
			return nil, fmt.Errorf("plan reversing %s to %s: %w: %s", r.App, r.Target, err, tail(out, 10))
		}
		irreversible = append(irreversible, irreversibleIn(out)...)
	}
	if len(irreversible) > 0 {
		return nil, &IrreversibleError{Migrations: irreversible}
	}
	for _, r := range plan {
		d.Log.Info("reversing migrations", "app", r.App, "to", r.Target)
		out, err := d.Stack.oneOff(ctx, image, release, "python", "manage.py", "migrate", r.App, r.Target, "--noinput")
		if err != nil {
			return nil, fmt.Errorf("reverse %s to %s: %w: %s", r.App, r.Target, err, tail(out, 15))
		}
	}
	return newSince(target, applied), nil
}

// irreversibleIn picks the migrations a `migrate --plan` output marks
// IRREVERSIBLE. The plan lists "app.0003_name" then its operations.
func irreversibleIn(plan string) []string {
	var out []string
	current := ""
	for _, l := range strings.Split(plan, "\n") {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(l, " ") && strings.Contains(t, ".") && !strings.Contains(t, " ") {
			current = t
		}
		if strings.Contains(t, "IRREVERSIBLE") && current != "" && !slices.Contains(out, current) {
			out = append(out, current)
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
