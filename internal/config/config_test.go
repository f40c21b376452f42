package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(dir)
}

func TestDeployDefaults(t *testing.T) {
	c, err := load(t, "project: shop\n")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Deploy
	if d.Remote != "origin" || d.HealthPath != "/readyz" || d.HealthTimeout != 3*time.Minute || d.Watch != 30*time.Second ||
		d.Drain != 10*time.Second || d.MaxErrorRate != 0.05 || d.Irreversible != "restore" {
		t.Fatalf("defaults: %+v", d)
	}
	if len(c.Notify.On) != 3 || c.StateDir == "" {
		t.Fatalf("notify.on %v, state_dir %q", c.Notify.On, c.StateDir)
	}
	c, err = load(t, "deploy:\n  watch: 5s\n  health_timeout: 90s\nstate_dir: st\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Deploy.Watch != 5*time.Second || c.Deploy.HealthTimeout != 90*time.Second || c.StateDir != filepath.Join(c.Dir, "st") {
		t.Fatalf("durations or state_dir not read: %+v %s", c.Deploy, c.StateDir)
	}
}

// Every problem is reported at once, and no secret is echoed.
func TestDeployProblems(t *testing.T) {
	_, err := load(t, `deploy:
  health_path: readyz
  irreversible: maybe
  max_error_rate: 2
  workers: [web]
notify:
  on: [sometimes]
  slack: ["hooks.slack.com/services/T0/B0/secret-token"]
  email:
    smtp: mail.example.com
    from: not-an-address
    password: hunter2
`)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"deploy.health_path", "deploy.irreversible", "deploy.max_error_rate", "deploy.workers", "notify.on", "notify.slack", "notify.email.smtp", "notify.email.from", "notify.email.to", "notify.email.password"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secret-token") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows a secret:\n%v", err)
	}
}
