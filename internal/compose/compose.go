package compose

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Project is one compose project.
type Project struct {
	// Dir is the project directory; relative paths in the files resolve here.
	Dir string
	// Files are the compose files, relative to Dir.
	Files []string
	// EnvFile supplies the variables the files interpolate, relative to Dir.
	EnvFile string
	// Name is the compose project name.
	Name string
	// Env adds NAME=value pairs to compose's environment; they take
	// precedence over EnvFile when the files are interpolated.
	Env []string
}

// With returns a copy of p with extra environment for compose.
func (p Project) With(env ...string) Project {
	p.Env = append(slices.Clip(p.Env), env...)
	return p
}

func (p Project) args(args []string) []string {
	out := []string{"compose", "--project-directory", p.Dir, "--project-name", p.Name}
	for _, f := range p.Files {
		out = append(out, "--file", f)
	}
	if p.EnvFile != "" {
		out = append(out, "--env-file", p.EnvFile)
	}
	return append(out, args...)
}

func (p Project) command(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", p.args(args)...)
	cmd.Dir = p.Dir
	dieWithParent(cmd)
	if len(p.Env) > 0 {
		cmd.Env = append(os.Environ(), p.Env...)
	}
	return cmd
}

// Run runs `docker compose ARGS`, streaming its output.
func (p Project) Run(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	cmd := p.command(ctx, args)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker compose %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// Output runs `docker compose ARGS` and returns its standard output; on
// failure the error carries the last lines of its standard error.
func (p Project) Output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := p.command(ctx, args)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("docker compose %s: %w: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 10))
	}
	return out, nil
}

// Container is a container of the project as `docker compose ps` shows it.
type Container struct {
	Name       string
	Service    string
	State      string // running, exited, ...
	Health     string // healthy, unhealthy, starting, or "" without a healthcheck
	ExitCode   int
	Publishers []struct {
		URL           string
		TargetPort    int
		PublishedPort int
		Protocol      string
	}
}

// PS lists the project's containers, stopped ones included.
func (p Project) PS(ctx context.Context) ([]Container, error) {
	out, err := p.Output(ctx, "ps", "--all", "--format", "json")
	if err != nil {
		return nil, err
	}
	return parsePS(out)
}

// parsePS reads both forms compose has printed: one JSON array (before
// v2.21) or one object per line.
func parsePS(out []byte) ([]Container, error) {
	out = bytes.TrimSpace(out)
	var cs []Container
	if len(out) == 0 {
		return nil, nil
	}
	if out[0] == '[' {
		if err := json.Unmarshal(out, &cs); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		return cs, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c Container
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		cs = append(cs, c)
	}
	return cs, sc.Err()
}

// Logs returns the last lines of a service's logs.
func (p Project) Logs(ctx context.Context, service string, tail int) (string, error) {
	out, err := p.command(ctx, []string{"logs", "--no-color", "--tail", fmt.Sprint(tail), service}).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker compose logs %s: %w", service, err)
	}
	return string(out), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Exec runs a command in the running container of service, without a TTY,
// with stdin and stdout connected to the given streams (nil for none). On
// failure the error carries the last lines the command wrote to stderr.
func (p Project) Exec(ctx context.Context, service string, stdin io.Reader, stdout io.Writer, args ...string) error {
	cmd := p.command(ctx, append([]string{"exec", "-T", service}, args...))
	cmd.Stdin, cmd.Stdout = stdin, stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return &ExecError{Service: service, Command: args[0], Err: err, Stderr: lastLines(stderr.String(), 10)}
	}
	return nil
}

// ExecError is a failed Exec.
type ExecError struct {
	Service, Command string
	Err              error
	Stderr           string
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("%s in service %s: %v", e.Command, e.Service, e.Err)
	if e.Stderr != "" {
		msg += ": " + strings.TrimSpace(e.Stderr)
	}
	return msg
}

func (e *ExecError) Unwrap() error { return e.Err }

// NotRunning reports whether the failure was that the service has no
// running container.
func (e *ExecError) NotRunning() bool {
	return strings.Contains(e.Stderr, "is not running") || strings.Contains(e.Stderr, "no container found")
}
