package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Project is a docker compose project owned by one test.
type Project struct {
	t    testing.TB
	Name string
	Dir  string
	// Files and EnvFile, when set, are passed to every compose command.
	Files   []string
	EnvFile string
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// NewProject returns a compose project for the compose files in dir, with a
// name of its own. When the test ends it prints the containers' logs if the
// test failed, then removes the project's containers, networks, volumes and
// the images it built.
func NewProject(t testing.TB, dir string) *Project {
	t.Helper()
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 30 {
		base = base[:30]
	}
	p := &Project{t: t, Name: "mt-" + base + "-" + hex.EncodeToString(suffix), Dir: dir}
	t.Cleanup(p.cleanup)
	return p
}

func (p *Project) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if p.t.Failed() {
		out, _ := p.run(ctx, "ps", "--all")
		p.t.Logf("compose ps of %s:\n%s", p.Name, out)
		out, _ = p.run(ctx, "logs", "--no-color", "--timestamps", "--tail", "200")
		p.t.Logf("container logs of %s:\n%s", p.Name, out)
	}
	if out, err := p.run(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "5"); err != nil {
		p.t.Errorf("compose down %s: %v\n%s", p.Name, err, out)
	}
	ids, err := exec.CommandContext(ctx, "docker", "image", "ls", "-q", "--filter", "label=com.docker.compose.project="+p.Name).Output()
	if err == nil && len(bytes.TrimSpace(ids)) > 0 {
		args := append([]string{"image", "rm", "--force"}, strings.Fields(string(ids))...)
		if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
			p.t.Logf("remove images of %s: %v\n%s", p.Name, err, out)
		}
	}
}

func (p *Project) run(ctx context.Context, args ...string) (string, error) {
	base := []string{"compose", "--project-name", p.Name}
	for _, f := range p.Files {
		base = append(base, "--file", f)
	}
	if p.EnvFile != "" {
		base = append(base, "--env-file", p.EnvFile)
	}
	cmd := exec.CommandContext(ctx, "docker", append(base, args...)...)
	cmd.Dir = p.Dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// Compose runs `docker compose ARGS...` for the project and returns its
// combined output.
func (p *Project) Compose(ctx context.Context, args ...string) (string, error) {
	return p.run(ctx, args...)
}

// MustCompose is Compose that fails the test on error, with the output.
func (p *Project) MustCompose(ctx context.Context, args ...string) string {
	p.t.Helper()
	out, err := p.run(ctx, args...)
	if err != nil {
		p.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Addr returns the host address published for a service's container port.
func (p *Project) Addr(ctx context.Context, service string, port int) string {
	p.t.Helper()
	out := strings.TrimSpace(p.MustCompose(ctx, "port", service, fmt.Sprint(port)))
	if out == "" || strings.HasSuffix(out, ":0") {
		p.t.Fatalf("service %s publishes no host port for %d", service, port)
	}
	return out
}
