package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/atomicfile"
	"github.com/muelle-dev/muelle/internal/compose"
	"github.com/muelle-dev/muelle/internal/engine"
)

// WebService is the compose service that serves HTTP.
const WebService = "web"

// webPort is the port gunicorn listens on in the web containers.
const webPort = "8000"

// Stack is the running production stack, as deploys need it.
type Stack struct {
	Proj compose.Project
	Eng  *engine.Client
	// NginxDir is the directory mounted as nginx's conf.d.
	NginxDir string
	// Host is sent as the Host header of health checks: a name the site's
	// ALLOWED_HOSTS accepts.
	Host string
	// HealthPath is the readiness path.
	HealthPath string
}

// at returns the compose project set to run image as release id.
func (s *Stack) at(image, release string) compose.Project {
	return s.Proj.With("MUELLE_IMAGE="+image, "MUELLE_RELEASE="+release)
}

// webContainers lists the web service's containers, oldest first.
func (s *Stack) webContainers(ctx context.Context) ([]engine.Container, error) {
	return s.Eng.ComposeContainers(ctx, s.Proj.Name, WebService)
}

func running(cs []engine.Container) []engine.Container {
	var out []engine.Container
	for _, c := range cs {
		if c.State == "running" || c.State == "restarting" {
			out = append(out, c)
		}
	}
	return out
}

func ids(cs []engine.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// startNext starts n web containers of image next to the running ones and
// returns them. Compose numbers them after the old ones and leaves the old
// ones alone (--no-recreate).
func (s *Stack) startNext(ctx context.Context, image, release string, old []engine.Container, n int, log io.Writer) ([]engine.Container, error) {
	err := s.at(image, release).Run(ctx, log, log, "up", "--detach", "--no-deps", "--no-recreate",
		"--scale", fmt.Sprintf("%s=%d", WebService, len(old)+n), WebService)
	all, lerr := s.webContainers(ctx)
	if lerr != nil {
		return nil, lerr
	}
	var fresh []engine.Container
	for _, c := range all {
		if !slices.Contains(ids(old), c.ID) {
			fresh = append(fresh, c)
		}
	}
	if err != nil {
		return fresh, err
	}
	return fresh, nil
}

// waitHealthy waits until every container is healthy by Docker's
// healthcheck and answers muelle's own readiness check.
func (s *Stack) waitHealthy(ctx context.Context, cs []engine.Container, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, c := range cs {
		if err := s.waitOne(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) waitOne(ctx context.Context, c engine.Container) error {
	var last error
	cur := c
	for {
		got, err := s.Eng.Container(ctx, c.ID)
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case err != nil:
			// The wait timed out during the inspection: reported below,
			// with what the container last showed.
		case got.RestartCount > 0:
			return s.failure(ctx, got, fmt.Sprintf("crashed and was restarted (%d times so far)", got.RestartCount))
		case got.State == "exited" || got.State == "dead":
			return s.failure(ctx, got, fmt.Sprintf("exited with code %d", got.ExitCode))
		case got.Health == "unhealthy":
			return s.failure(ctx, got, "is unhealthy")
		case got.Health == "healthy" || got.Health == "" && got.State == "running":
			cur = got
			err := s.ready(ctx, cur)
			if err == nil {
				return nil
			}
			if ctx.Err() == nil || last == nil {
				last = err // not the timeout's own error over the app's answer
			}
		default:
			cur = got
		}
		select {
		case <-ctx.Done():
			why := "did not become healthy in time"
			if last != nil {
				why = fmt.Sprintf("is healthy to Docker but not ready: %v", last)
			} else if cur.Health != "" {
				why += " (health: " + cur.Health + ")"
			}
			return s.failure(context.WithoutCancel(ctx), cur, why)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// failure describes a new container that failed, with its last log lines.
func (s *Stack) failure(ctx context.Context, c engine.Container, why string) error {
	logs, _ := s.Eng.ContainerLogs(ctx, c.ID, 300) // best effort: the failure is known
	return &ContainerError{Name: c.Name, Why: why, Logs: logs}
}

// ContainerError is a new release's container that failed to start.
type ContainerError struct {
	Name, Why, Logs string
}

func (e *ContainerError) Error() string {
	msg := fmt.Sprintf("%s %s", e.Name, e.Why)
	last := strings.TrimSpace(tail(e.Logs, 15))
	if last != "" {
		msg += "; its last log lines:\n" + last
	}
	// A crash that scrolled out of the last lines (a restart began logging
	// again) still shows its exception.
	var errs []string
	for _, l := range strings.Split(e.Logs, "\n") {
		t := strings.TrimSpace(l)
		if (strings.Contains(t, "Error:") || strings.Contains(t, "Exception:")) && !strings.Contains(last, t) && !slices.Contains(errs, t) {
			errs = append(errs, t)
		}
	}
	if len(errs) > 0 {
		msg += "\nerrors in its log:\n" + strings.Join(errs[max(0, len(errs)-5):], "\n")
	}
	return msg
}

// ready asks one web container for the readiness path, over the network
// nginx reaches it on, with the site's Host header.
func (s *Stack) ready(ctx context.Context, c engine.Container) error {
	ip, err := s.sharedIP(ctx, c)
	if err != nil {
		return err
	}
	return s.get(ctx, "http://"+net.JoinHostPort(ip, webPort)+s.HealthPath)
}

// sharedIP is the container's address on a network nginx is attached to.
func (s *Stack) sharedIP(ctx context.Context, c engine.Container) (string, error) {
	ng, err := s.nginx(ctx)
	if err != nil {
		return "", err
	}
	for network, ip := range c.IPs {
		if _, ok := ng.IPs[network]; ok {
			return ip, nil
		}
	}
	return "", fmt.Errorf("%s shares no network with nginx", c.Name)
}

func (s *Stack) nginx(ctx context.Context) (engine.Container, error) {
	return s.running(ctx, "nginx")
}

// running returns the running container of a service.
func (s *Stack) running(ctx context.Context, service string) (engine.Container, error) {
	cs, err := s.Eng.ComposeContainers(ctx, s.Proj.Name, service)
	if err != nil {
		return engine.Container{}, err
	}
	for _, c := range running(cs) {
		return c, nil
	}
	return engine.Container{}, fmt.Errorf("%s is not running: start the stack with 'muelle up'", service)
}

// exec runs a command in the running container of service (through the
// engine's API: the compose CLI would add its start-up to every switch).
func (s *Stack) exec(ctx context.Context, service string, stdout io.Writer, args ...string) error {
	c, err := s.running(ctx, service)
	if err != nil {
		return err
	}
	return s.Eng.Exec(ctx, c.ID, stdout, args...)
}

var probeClient = &http.Client{
	Timeout: 3 * time.Second,
	Transport: &http.Transport{
		// nginx's own certificate, reached by address: the connection is to
		// our own container, so the name cannot be checked.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (s *Stack) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Host = s.Host
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("User-Agent", "muelle-deploy")
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", s.HealthPath, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// readyThroughNginx asks nginx (over HTTPS, on its container address) for
// the readiness path: the whole path a visitor's request takes.
func (s *Stack) readyThroughNginx(ctx context.Context) error {
	ng, err := s.nginx(ctx)
	if err != nil {
		return err
	}
	for _, ip := range ng.IPs {
		return s.get(ctx, "https://"+net.JoinHostPort(ip, "443")+s.HealthPath)
	}
	return errors.New("nginx has no network address")
}

// upstreamFile is the nginx include that names the web backends.
func (s *Stack) upstreamFile() string { return filepath.Join(s.NginxDir, "upstream.conf") }

// upstreamConf renders the upstream block; no names means the compose
// service name, which resolves to every web container.
func upstreamConf(names []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Where nginx sends requests. Written by muelle: deploys switch traffic\n# by rewriting this file and reloading nginx.\nupstream web {\n")
	if len(names) == 0 {
		names = []string{WebService}
	}
	for _, n := range names {
		fmt.Fprintf(&b, "    server %s:%s;\n", n, webPort)
	}
	b.WriteString("    keepalive 16;\n}\n")
	return b.Bytes()
}

var serverRe = regexp.MustCompile(`(?m)^\s*server\s+([^:;\s]+):`)

// upstreamNames reads which backends the upstream file names now.
func (s *Stack) upstreamNames() []string {
	data, err := os.ReadFile(s.upstreamFile())
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range serverRe.FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	return out
}

// switchTo points nginx at the named containers (none: the service name)
// and reloads it gracefully: new requests go to them, requests in flight
// finish where they are. If nginx rejects the file, the old one is put back.
func (s *Stack) switchTo(ctx context.Context, names []string) error {
	path := s.upstreamFile()
	prev, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	next := upstreamConf(names)
	if bytes.Equal(prev, next) {
		return s.reload(ctx)
	}
	if err := atomicfile.Write(path, next, 0o644); err != nil {
		return err
	}
	if err := s.nginxExec(ctx, "nginx", "-t", "-q"); err != nil {
		if rerr := atomicfile.Write(path, prev, 0o644); rerr != nil {
			return fmt.Errorf("nginx rejected the new upstream (%v), and putting the old one back failed: %w", err, rerr)
		}
		return fmt.Errorf("nginx rejected the new upstream; kept the old one: %w", err)
	}
	return s.reload(ctx)
}

func (s *Stack) reload(ctx context.Context) error {
	return s.nginxExec(ctx, "nginx", "-s", "reload")
}

func (s *Stack) nginxExec(ctx context.Context, args ...string) error {
	return s.exec(ctx, "nginx", nil, args...)
}

// retire stops and removes containers; gunicorn finishes its requests
// within the stop timeout.
func (s *Stack) retire(ctx context.Context, idList []string) error {
	var errs []error
	for _, id := range idList {
		if err := s.Eng.StopContainer(ctx, id, 30*time.Second); err != nil && !isGone(err) {
			errs = append(errs, err)
		}
		if err := s.Eng.RemoveContainer(ctx, id); err != nil && !isGone(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func isGone(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "No such container") || strings.Contains(err.Error(), "is already in progress"))
}

// oneOff runs a command in a one-off container of image (the migrate
// service's definition: the app's environment, the database network),
// returning its combined output.
func (s *Stack) oneOff(ctx context.Context, image, release string, args ...string) (string, error) {
	var out bytes.Buffer
	run := append([]string{"run", "--rm", "--no-deps", "-T", "migrate"}, args...)
	err := s.at(image, release).Run(ctx, &out, &out, run...)
	return out.String(), err
}

// removeOneOffs removes one-off containers left running by a muelle that
// was killed while it waited for them (a migration, a check).
func (s *Stack) removeOneOffs(ctx context.Context) error {
	out, err := s.Proj.Output(ctx, "ps", "--all", "--format", "json", "migrate")
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var c struct{ ID string }
		if json.Unmarshal([]byte(line), &c) == nil && c.ID != "" {
			if err := s.Eng.RemoveContainer(ctx, c.ID); err != nil && !isGone(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

var statusRe = regexp.MustCompile(`" (\d{3}) `)

// answerCount counts nginx's answers, and the 5xx among them, from its
// access log, reading only the lines logged since its last count.
type answerCount struct {
	last          time.Time
	total, failed int
}

// countAnswers adds nginx's answers logged since c's last count, leaving
// out muelle's own probes.
func (s *Stack) countAnswers(ctx context.Context, c *answerCount) error {
	ng, err := s.nginx(ctx)
	if err != nil {
		return err
	}
	lines, err := s.Eng.ContainerLogLines(ctx, ng.ID, c.last)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if !l.Time.After(c.last) {
			continue // counted by the previous read
		}
		c.last = l.Time
		m := statusRe.FindStringSubmatch(l.Text)
		if m == nil || strings.Contains(l.Text, "muelle-deploy") {
			continue
		}
		c.total++
		if m[1][0] == '5' {
			c.failed++
		}
	}
	return nil
}
