package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"
)

// Container is what muelle needs to know about one container.
type Container struct {
	ID      string
	Name    string
	Image   string // the image reference it was created from
	ImageID string
	Created time.Time
	// State is running, exited, restarting, created, ...
	State string
	// Health is healthy, unhealthy, starting, or "" without a healthcheck.
	Health       string
	RestartCount int
	ExitCode     int
	// IPs maps each network the container is attached to to its address.
	IPs    map[string]string
	Labels map[string]string
}

// ComposeContainers lists the containers (stopped ones included) of one
// compose service, oldest first.
func (c *Client) ComposeContainers(ctx context.Context, project, service string) ([]Container, error) {
	args := filters.NewArgs(
		filters.Arg("label", "com.docker.compose.project="+project),
		filters.Arg("label", "com.docker.compose.service="+service),
	)
	list, err := c.api.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s/%s: %w", project, service, err)
	}
	out := make([]Container, 0, len(list))
	for _, s := range list {
		// One-off `compose run` containers carry the service label too.
		if s.Labels["com.docker.compose.oneoff"] == "True" {
			continue
		}
		ct, err := c.Container(ctx, s.ID)
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, ct)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Container inspects one container.
func (c *Client) Container(ctx context.Context, id string) (Container, error) {
	in, err := c.api.ContainerInspect(ctx, id)
	if err != nil {
		return Container{}, fmt.Errorf("inspect container %s: %w", id, err)
	}
	ct := Container{ID: in.ID, Name: trimSlash(in.Name), ImageID: in.Image, RestartCount: in.RestartCount, IPs: map[string]string{}}
	if in.Config != nil {
		ct.Image, ct.Labels = in.Config.Image, in.Config.Labels
	}
	ct.Created, _ = time.Parse(time.RFC3339Nano, in.Created)
	if in.State != nil {
		ct.State, ct.ExitCode = in.State.Status, in.State.ExitCode
		if in.State.Health != nil {
			ct.Health = in.State.Health.Status
		}
	}
	if in.NetworkSettings != nil {
		for name, n := range in.NetworkSettings.Networks {
			if n != nil && n.IPAddress != "" {
				ct.IPs[name] = n.IPAddress
			}
		}
	}
	return ct, nil
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

// StopContainer stops a container, giving it timeout to exit after SIGTERM.
func (c *Client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout.Seconds())
	if err := c.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	return nil
}

// RemoveContainer removes a container, stopping it first if needed.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	if err := c.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// ContainerLogs returns the last lines of a container's output.
func (c *Client) ContainerLogs(ctx context.Context, id string, tail int) (string, error) {
	rc, err := c.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(tail)})
	if err != nil {
		return "", fmt.Errorf("logs of container %s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return buf.String(), fmt.Errorf("logs of container %s: %w", id, err)
	}
	return buf.String(), nil
}

// ContainerLogsSince returns a container's output since t.
func (c *Client) ContainerLogsSince(ctx context.Context, id string, t time.Time) (string, error) {
	rc, err := c.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Since: fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())})
	if err != nil {
		return "", fmt.Errorf("logs of container %s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return buf.String(), fmt.Errorf("logs of container %s: %w", id, err)
	}
	return buf.String(), nil
}

// LogLine is one line of a container's output, with the time Docker
// received it.
type LogLine struct {
	Time time.Time
	Text string
}

// ContainerLogLines returns a container's standard output since t, line by line
// with Docker's timestamps, so that a caller polling the log can read only
// what is new each time.
func (c *Client) ContainerLogLines(ctx context.Context, id string, t time.Time) ([]LogLine, error) {
	// Standard output only: the two streams are timestamped separately
	// and can interleave out of order, which would make a poller skip
	// lines. (nginx writes its access log there, its errors to stderr.)
	rc, err := c.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, Timestamps: true,
		Since: fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())})
	if err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, err)
	}
	var out []LogLine
	for _, l := range strings.Split(buf.String(), "\n") {
		ts, text, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		out = append(out, LogLine{Time: tm, Text: text})
	}
	return out, nil
}

// ExecError is a command run with Exec that could not start or exited
// non-zero.
type ExecError struct {
	Container, Command string
	ExitCode           int // -1: it did not run
	Stderr             string
	Err                error
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("%s in container %s", e.Command, e.Container)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	} else {
		msg += fmt.Sprintf(": exit status %d", e.ExitCode)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *ExecError) Unwrap() error { return e.Err }

// Exec runs a command in a running container through the engine's API,
// without a TTY or stdin, writing its output to stdout (nil: discarded).
// It is what `docker compose exec` does, without starting the compose CLI
// each time: muelle's deploy runs a few of these on its critical path.
// A non-zero exit is an *ExecError carrying the last lines of stderr.
func (c *Client) Exec(ctx context.Context, id string, stdout io.Writer, args ...string) error {
	name := ""
	if len(args) > 0 {
		name = args[0]
	}
	fail := func(err error) error { return &ExecError{Container: id, Command: name, ExitCode: -1, Err: err} }
	created, err := c.api.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: args, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fail(err)
	}
	att, err := c.api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return fail(err)
	}
	defer att.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	var stderr TailBuffer
	if _, err := stdcopy.StdCopy(stdout, &stderr, att.Reader); err != nil {
		return fail(err)
	}
	ins, err := c.api.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return fail(err)
	}
	if ins.ExitCode != 0 {
		return &ExecError{Container: id, Command: name, ExitCode: ins.ExitCode, Stderr: stderr.String()}
	}
	return nil
}

// TailBuffer is a writer that keeps the last 4 KiB written to it: the end
// of a build's or a command's output, for an error message.
type TailBuffer struct{ buf []byte }

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *TailBuffer) String() string { return string(t.buf) }
