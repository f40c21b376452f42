package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/muelle-dev/muelle/internal/compose"
	"github.com/muelle-dev/muelle/internal/config"
	"github.com/muelle-dev/muelle/internal/envfile"
	"github.com/muelle-dev/muelle/internal/scaffold"
	"github.com/spf13/cobra"
)

type stackOptions struct {
	dir     string
	envFile string
	project string
}

func (o *stackOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.envFile, "env-file", "", "production env file, relative to DIR (default from muelle.yaml, else .env.production)")
	cmd.Flags().StringVarP(&o.project, "project-name", "p", "", "compose project name (default from muelle.yaml, else DIR's name)")
}

// load reads DIR's muelle.yaml, with the flags taking precedence.
func (o *stackOptions) load(args []string) (*config.Config, error) {
	o.dir = "."
	if len(args) == 1 {
		o.dir = args[0]
	}
	cfg, err := config.Load(o.dir)
	if err != nil {
		return nil, err
	}
	if o.project != "" {
		if config.ProjectName(o.project) != o.project {
			return nil, usageError{fmt.Errorf("--project-name %q: use lower-case letters, digits, - and _ only", o.project)}
		}
		cfg.Project = o.project
	}
	if o.envFile != "" {
		cfg.EnvFile = o.envFile
	}
	return cfg, nil
}

// stack resolves the compose project of DIR.
func (o *stackOptions) stack(args []string) (compose.Project, error) {
	cfg, err := o.load(args)
	if err != nil {
		return compose.Project{}, err
	}
	return projectOf(cfg)
}

func projectOf(cfg *config.Config) (compose.Project, error) {
	if _, err := os.Stat(filepath.Join(cfg.Dir, cfg.ComposeFile)); errors.Is(err, fs.ErrNotExist) {
		return compose.Project{}, fmt.Errorf("no %s in %s: run 'muelle init' there first", cfg.ComposeFile, cfg.Dir)
	}
	return compose.Project{Dir: cfg.Dir, Files: []string{cfg.ComposeFile}, EnvFile: cfg.EnvFile, Name: cfg.Project}, nil
}

type upOptions struct {
	stackOptions
	timeout time.Duration
}

func newUpCmd(g *globals) *cobra.Command {
	o := upOptions{}
	cmd := &cobra.Command{
		Use:   "up [DIR]",
		Short: "Build the image and start the production stack; wait until every service is healthy",
		Long: `Check the production env file, make sure a certificate exists (self-signed
if none), build the app image, and bring the production stack up with docker
compose. Waits until every service is healthy, then prints the URL and the
services' status. A service that does not become healthy fails the command
with its last log lines.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			proj, err := o.stack(args)
			if err != nil {
				return err
			}
			return runUp(cmd.Context(), g, proj, o)
		},
	}
	o.flags(cmd)
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the services to become healthy")
	return cmd
}

func runUp(ctx context.Context, g *globals, proj compose.Project, o upOptions) error {
	env, err := envfile.Read(filepath.Join(proj.Dir, proj.EnvFile))
	if err != nil {
		return err
	}
	problems := envfile.Check(env)
	for _, p := range problems {
		fmt.Fprintln(g.errOut, p)
	}
	if envfile.HasErrors(problems) {
		return errEnvInvalid
	}
	hosts := splitList(env.Values["DJANGO_ALLOWED_HOSTS"])
	if wrote, err := scaffold.EnsureCertificate(proj.Dir, hosts); err != nil {
		return err
	} else if wrote {
		fmt.Fprintf(g.errOut, "wrote a self-signed certificate to %s (replace it with a real one)\n", scaffold.CertDir)
	}

	fmt.Fprintf(g.errOut, "building the app image (project %s)\n", proj.Name)
	if err := proj.Run(ctx, g.errOut, g.errOut, "build", "web"); err != nil {
		return err
	}
	fmt.Fprintln(g.errOut, "starting the stack and waiting for health")
	upErr := proj.Run(ctx, g.errOut, g.errOut, "up", "--detach", "--wait", "--wait-timeout", fmt.Sprint(int(o.timeout.Seconds())), "--remove-orphans")
	cs, psErr := proj.PS(ctx)
	if upErr != nil {
		if psErr != nil {
			return fmt.Errorf("%w (and listing containers failed: %v)", upErr, psErr)
		}
		return unhealthyError(ctx, g, proj, cs, upErr)
	}
	if psErr != nil {
		return psErr
	}
	// nginx resolves the web service's address when it loads its
	// configuration; a web container compose recreated may have a new one.
	if err := proj.Exec(ctx, "nginx", nil, io.Discard, "nginx", "-s", "reload"); err != nil {
		fmt.Fprintf(g.errOut, "warning: reloading nginx failed: %v\n", err)
	}
	printStatus(g, cs)
	fmt.Fprintf(g.out, "\n%s is up: %s\n", proj.Name, stackURL(cs, hosts))
	return nil
}

// healthy reports whether a container is where it should be.
func healthy(c compose.Container) bool {
	if c.State == "exited" {
		return c.ExitCode == 0 && c.Service == "migrate" // one-off: done is fine
	}
	return c.State == "running" && (c.Health == "" || c.Health == "healthy")
}

func unhealthyError(ctx context.Context, g *globals, proj compose.Project, cs []compose.Container, cause error) error {
	var failed, waiting []string
	for _, c := range cs {
		switch {
		case healthy(c):
			continue
		case c.State == "created":
			// Never started: it waits for a service that failed.
			waiting = append(waiting, c.Service)
			continue
		}
		failed = append(failed, c.Service)
		logs, _ := proj.Logs(ctx, c.Service, 300) // best effort: the failure is already known
		state := strings.TrimSpace(c.State + " " + c.Health)
		fmt.Fprintf(g.errOut, "\n--- %s: %s; last log lines ---\n%s", c.Service, state, lastN(logs, 25))
		if errs := errorLines(logs, 8); errs != "" {
			fmt.Fprintf(g.errOut, "--- %s: the errors among its last 300 log lines ---\n%s", c.Service, errs)
		}
	}
	if len(failed) == 0 {
		return cause
	}
	msg := fmt.Sprintf("the stack did not become healthy: %s (last log lines above)", strings.Join(failed, ", "))
	if len(waiting) > 0 {
		msg += fmt.Sprintf("; not started, waiting for it: %s", strings.Join(waiting, ", "))
	}
	return fmt.Errorf("%s: %w", msg, cause)
}

var digitsRe = regexp.MustCompile(`[0-9]+`)

var errorLineRe = regexp.MustCompile(`(?i)\b(\w*error|exception|fatal|panic|refused|denied|failed)\b`)

// errorLines picks the last n distinct lines that look like errors, so a
// crash that scrolled out of the last lines (one traceback per worker) is
// still shown.
func errorLines(logs string, n int) string {
	var picked []string
	seen := map[string]bool{}
	lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
	for i := len(lines) - 1; i >= 0 && len(picked) < n; i-- {
		l := lines[i]
		if _, msg, ok := strings.Cut(l, "| "); ok {
			l = msg
		}
		// Lines that differ only in timestamps or pids count once.
		key := digitsRe.ReplaceAllString(l, "")
		if errorLineRe.MatchString(l) && !seen[key] {
			seen[key] = true
			picked = append(picked, lines[i])
		}
	}
	slices.Reverse(picked)
	if len(picked) == 0 {
		return ""
	}
	return strings.Join(picked, "\n") + "\n"
}

func lastN(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n+1 {
		lines = lines[len(lines)-n-1:]
	}
	return strings.Join(lines, "")
}

func printStatus(g *globals, cs []compose.Container) {
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tPORTS")
	for _, c := range cs {
		var ports []string
		for _, p := range c.Publishers {
			if p.PublishedPort != 0 {
				ports = append(ports, fmt.Sprintf("%s:%d->%d", p.URL, p.PublishedPort, p.TargetPort))
			}
		}
		health := c.Health
		if health == "" {
			health = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Service, c.State, health, strings.Join(ports, ", "))
	}
	tw.Flush()
}

// stackURL is where the site answers: the first named allowed host, on the
// port published for nginx's 443.
func stackURL(cs []compose.Container, hosts []string) string {
	host := "localhost"
	for _, h := range hosts {
		if h != "*" && !strings.HasPrefix(h, ".") {
			host = h
			break
		}
	}
	for _, c := range cs {
		for _, p := range c.Publishers {
			if c.Service == "nginx" && p.TargetPort == 443 && p.PublishedPort != 0 {
				if p.PublishedPort == 443 {
					return "https://" + host + "/"
				}
				return fmt.Sprintf("https://%s:%d/", host, p.PublishedPort)
			}
		}
	}
	return "https://" + host + "/"
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

type downOptions struct {
	stackOptions
	volumes bool
	yes     bool
}

func newDownCmd(g *globals) *cobra.Command {
	o := downOptions{}
	cmd := &cobra.Command{
		Use:   "down [DIR]",
		Short: "Stop the production stack; keeps its data unless asked twice",
		Long: `Stop and remove the production stack's containers and networks. Volumes
(the database, Redis, media files) are kept; --volumes removes them too, after
a confirmation (or with --yes).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			proj, err := o.stack(args)
			if err != nil {
				return err
			}
			return runDown(cmd.Context(), g, proj, o)
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&o.volumes, "volumes", false, "also remove the volumes: the database, Redis data and media files")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func runDown(ctx context.Context, g *globals, proj compose.Project, o downOptions) error {
	args := []string{"down", "--remove-orphans"}
	if o.volumes {
		if !o.yes {
			fmt.Fprintf(g.errOut, "This deletes the database, Redis data and media files of %s for good.\nType the project name (%s) to confirm: ", proj.Name, proj.Name)
			answer, _ := bufio.NewReader(g.in).ReadString('\n')
			if strings.TrimSpace(answer) != proj.Name {
				return errors.New("not confirmed; nothing was removed")
			}
		}
		args = append(args, "--volumes")
	}
	return proj.Run(ctx, g.errOut, g.errOut, args...)
}
