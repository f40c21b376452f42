//go:build docker

package test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

const contractCompose = `services:
  db:
    image: postgres:15
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: contract-pw-1
      POSTGRES_DB: appdb
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U app -d appdb"]
      interval: 1s
      retries: 60
  redis:
    image: redis:7
    command: ["--requirepass", "redis-pw-1"]
    healthcheck:
      test: ["CMD-SHELL", "redis-cli -a redis-pw-1 --no-auth-warning ping | grep -q PONG"]
      interval: 1s
      retries: 60
  nginx:
    image: nginx:stable
    ports: ["127.0.0.1::80"]
    volumes: ["./site.conf:/etc/nginx/conf.d/default.conf:ro"]
`

const contractSite = `server {
    listen 80;
    server_name example.test;
    location / { return 200 "generated site\n"; }
}
`

// The stand-ins must behave like the official images a user pulls, so the
// generated stack runs unchanged on either.
func TestStandInImagesHonourOfficialContracts(t *testing.T) {
	testutil.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compose.yaml"), contractCompose)
	writeFile(t, filepath.Join(dir, "site.conf"), contractSite)
	p := testutil.NewProject(t, dir)
	p.MustCompose(ctx, "up", "--detach", "--wait", "--wait-timeout", "120")

	t.Run("postgres initialises from POSTGRES_* and checks passwords", func(t *testing.T) {
		out := p.MustCompose(ctx, "exec", "-T", "-e", "PGPASSWORD=contract-pw-1", "db",
			"psql", "-h", "127.0.0.1", "-U", "app", "-d", "appdb", "-tAc", "select current_user || ' ' || current_database()")
		if got := strings.TrimSpace(out); got != "app appdb" {
			t.Errorf("got %q, want %q", got, "app appdb")
		}
		out, err := p.Compose(ctx, "exec", "-T", "-e", "PGPASSWORD=wrong", "db",
			"psql", "-h", "127.0.0.1", "-U", "app", "-d", "appdb", "-c", "select 1")
		if err == nil || !strings.Contains(out, "password authentication failed") {
			t.Errorf("wrong password: got err=%v output %q, want a password authentication failure", err, out)
		}
		p.MustCompose(ctx, "exec", "-T", "db", "test", "-s", "/var/lib/postgresql/data/PG_VERSION")
		for _, tool := range []string{"pg_dump", "pg_restore", "pg_isready"} {
			p.MustCompose(ctx, "exec", "-T", "db", "sh", "-c", "command -v "+tool)
		}
	})

	t.Run("postgres refuses to initialise without a password", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "-e", "POSTGRES_USER=x", "postgres:15").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "POSTGRES_PASSWORD") {
			t.Errorf("got err=%v output %q, want a failure naming POSTGRES_PASSWORD", err, out)
		}
	})

	t.Run("redis requires its password, also over the network", func(t *testing.T) {
		out, _ := p.Compose(ctx, "exec", "-T", "redis", "redis-cli", "ping")
		if !strings.Contains(out, "NOAUTH") {
			t.Errorf("ping without password: got %q, want NOAUTH", out)
		}
		out = p.MustCompose(ctx, "run", "--rm", "--no-deps", "-T", "redis",
			"redis-cli", "-h", "redis", "-a", "redis-pw-1", "--no-auth-warning", "ping")
		if strings.TrimSpace(out) != "PONG" {
			t.Errorf("ping over the network with password: got %q, want PONG", out)
		}
	})

	t.Run("nginx serves the mounted site, not Debian's default", func(t *testing.T) {
		addr := p.Addr(ctx, "nginx", 80)
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "generated site\n" {
			t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "generated site\n")
		}
		conf := p.MustCompose(ctx, "exec", "-T", "nginx", "nginx", "-T")
		if strings.Contains(conf, "sites-enabled") {
			t.Errorf("nginx -T still includes sites-enabled:\n%s", conf)
		}
	})

	t.Run("python is 3.11 with Django", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "python:3.11-slim", "python", "-c",
			"import sys, django, gunicorn, psycopg2, redis, django_redis; print('%d.%d' % sys.version_info[:2])").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "3.11" {
			t.Errorf("got err=%v output %q, want 3.11", err, out)
		}
	})
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
