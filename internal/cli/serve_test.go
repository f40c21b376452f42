package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func serveProject(t *testing.T, yaml, env string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"muelle.yaml": yaml + "state_dir: " + filepath.Join(dir, "state") + "\nbackup:\n  dir: " + filepath.Join(dir, "b") + "\n", ".env.production": env} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serve refuses to start, saying what to fix, when its secrets are unusable;
// it never prints a secret.
func TestServeRefusesUnusableConfig(t *testing.T) {
	github := "serve:\n  github:\n    repository: octo-org/pinboard\n    secrets: [\"${GITHUB_WEBHOOK_SECRET}\", \"${OLD_SECRET}\"]\n"
	cases := []struct {
		name, yaml, env string
		want            []string
	}{
		{"no receivers", "", "", []string{"serve has no receivers", "serve.github"}},
		{"secret unset", github, "OLD_SECRET=an-old-but-long-enough-secret\n", []string{"GITHUB_WEBHOOK_SECRET is unset or empty", ".env.production"}},
		{"secret empty and short", github, "GITHUB_WEBHOOK_SECRET=\nOLD_SECRET=short\n", []string{"GITHUB_WEBHOOK_SECRET is unset or empty", "OLD_SECRET is shorter than 16"}},
		{"literal secret", "serve:\n  github:\n    repository: octo-org/pinboard\n    secrets: [\"hunter2-hunter2-hunter2\"]\n", "", []string{"write each as ${VAR}"}},
		{"workflow missing", "serve:\n  github:\n    repository: octo-org/pinboard\n    trigger: workflow_run\n    secrets: [\"${S}\"]\n", "", []string{"serve.github.workflow"}},
	}
	for _, c := range cases {
		dir := serveProject(t, c.yaml, c.env)
		var out bytes.Buffer
		code := run(context.Background(), []string{"serve", dir}, nil, &out, &out)
		if code != exitError {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, code, exitError, out.String())
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out.String())
			}
		}
		for _, secret := range []string{"an-old-but-long-enough-secret", "hunter2"} {
			if strings.Contains(out.String(), secret) {
				t.Errorf("%s: output shows a secret:\n%s", c.name, out.String())
			}
		}
	}
}

func TestServiceInstall(t *testing.T) {
	dir := serveProject(t, "project: shop\n", "")
	unit := filepath.Join(t.TempDir(), "muelle-shop.service")
	var out bytes.Buffer
	if code := run(context.Background(), []string{"service", "install", dir, "--file", unit}, nil, &out, &out); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=", ` serve "` + dir + `"`, "Requires=docker.service", "ProtectSystem=strict", `ReadWritePaths="` + dir + `"`, " -/run/docker.sock", "NoNewPrivileges=yes", "KillSignal=SIGTERM", "SystemCallFilter=@system-service"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("unit lacks %q:\n%s", want, data)
		}
	}
	if !strings.Contains(out.String(), "systemctl daemon-reload && systemctl enable --now muelle-shop.service") {
		t.Errorf("no enable instructions:\n%s", out.String())
	}
}

func TestSystemdQuote(t *testing.T) {
	if got := sdQuote(`/srv/my app/100% "x"$\`); got != `"/srv/my app/100%% \"x\"$$\\"` {
		t.Errorf("sdQuote = %s", got)
	}
}

// systemd itself accepts the unit, for a project path with a space and a
// percent sign in it.
func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	dir := filepath.Join(t.TempDir(), "my shop 100%")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "muelle.yaml"), []byte("project: shop\nstate_dir: "+filepath.Join(dir, "state")+"\nbackup:\n  dir: "+filepath.Join(dir, "b")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "muelle-shop.service")
	var out bytes.Buffer
	if code := run(context.Background(), []string{"service", "install", dir, "--file", unit}, nil, &out, &out); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if msg, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(msg)) > 0 {
		data, _ := os.ReadFile(unit)
		t.Fatalf("systemd-analyze verify: %v\n%s\nunit:\n%s", err, msg, data)
	}
}
