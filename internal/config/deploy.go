package config

import (
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Deploy configures `muelle deploy` and `muelle rollback`.
type Deploy struct {
	// Branch is deployed when no ref is given. Default: the branch checked
	// out in the project directory.
	Branch string `yaml:"branch"`
	// Remote is fetched before the ref is resolved, when the repository
	// has it. Default "origin".
	Remote string `yaml:"remote"`
	// HealthPath is the readiness URL path muelle checks on a new release,
	// through nginx's network and with the site's Host header. Default
	// "/readyz" (muelle's settings serve it).
	HealthPath string `yaml:"health_path"`
	// HealthTimeout bounds the wait for a new release to become healthy.
	// Default 3m.
	HealthTimeout time.Duration `yaml:"health_timeout"`
	// Watch is how long the new release is watched after the switch
	// (readiness and 5xx answers through nginx); a failure there rolls back.
	// Default 30s.
	Watch time.Duration `yaml:"watch"`
	// Drain is the least time the previous release's containers keep
	// running after the switch, to finish their requests. Default 10s.
	Drain time.Duration `yaml:"drain"`
	// MaxErrorRate is the share of 5xx answers through nginx during the
	// watch window that fails the deploy. Default 0.05.
	MaxErrorRate float64 `yaml:"max_error_rate"`
	// Checks are commands run in a one-off container of the new image
	// before any traffic moves, after `manage.py check --deploy`; for
	// example "python manage.py test --tag=smoke".
	Checks []string `yaml:"checks"`
	// Workers are compose services that run the app's image but serve no
	// HTTP (a Celery worker); they are recreated after the web switch.
	Workers []string `yaml:"workers"`
	// Irreversible says what a rollback does when a migration it must undo
	// is irreversible: "restore" the pre-deploy backup (writes since the
	// backup are lost, and reported), or "stop" in maintenance mode and
	// leave the choice to the operator. Default "restore".
	Irreversible string `yaml:"irreversible"`
}

// Notify says who hears about deploys and rollbacks. URLs and the SMTP
// password may be written as ${VAR}, read from the production env file or
// muelle's environment, so no secret needs to live in muelle.yaml.
type Notify struct {
	// On lists the events that notify: success, failure, rollback.
	// Default: all three.
	On []string `yaml:"on"`
	// Webhook URLs receive the event as JSON.
	Webhook []string `yaml:"webhook"`
	// Slack incoming-webhook URLs.
	Slack []string `yaml:"slack"`
	// Discord webhook URLs.
	Discord []string `yaml:"discord"`
	// Email over SMTP.
	Email *Email `yaml:"email"`
}

// Email is an SMTP account to send notifications from.
type Email struct {
	// SMTP is host:port of the server. Port 465 uses TLS from the start;
	// any other port uses STARTTLS when the server offers it.
	SMTP     string   `yaml:"smtp"`
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	From     string   `yaml:"from"`
	To       []string `yaml:"to"`
}

func (c *Config) deployDefaults() {
	d := &c.Deploy
	if d.Remote == "" {
		d.Remote = "origin"
	}
	if d.HealthPath == "" {
		d.HealthPath = "/readyz"
	}
	if d.HealthTimeout == 0 {
		d.HealthTimeout = 3 * time.Minute
	}
	if d.Watch == 0 {
		d.Watch = 30 * time.Second
	}
	if d.Drain == 0 {
		d.Drain = 10 * time.Second
	}
	if d.MaxErrorRate == 0 {
		d.MaxErrorRate = 0.05
	}
	if d.Irreversible == "" {
		d.Irreversible = "restore"
	}
	if len(c.Notify.On) == 0 {
		c.Notify.On = []string{"success", "failure", "rollback"}
	}
	if c.StateDir == "" {
		if os.Geteuid() == 0 {
			c.StateDir = filepath.Join("/var/lib/muelle", c.Project)
		} else if home, err := os.UserHomeDir(); err == nil {
			c.StateDir = filepath.Join(home, ".local/state/muelle", c.Project, "state")
		}
	} else if !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(c.Dir, c.StateDir)
	}
}

func (c *Config) deployProblems() []string {
	var problems []string
	d := c.Deploy
	if !strings.HasPrefix(d.HealthPath, "/") {
		problems = append(problems, fmt.Sprintf("deploy.health_path %q: must start with /", d.HealthPath))
	}
	for name, v := range map[string]time.Duration{"health_timeout": d.HealthTimeout, "watch": d.Watch, "drain": d.Drain} {
		if v < 0 {
			problems = append(problems, fmt.Sprintf("deploy.%s: cannot be negative", name))
		}
	}
	if d.MaxErrorRate < 0 || d.MaxErrorRate > 1 {
		problems = append(problems, "deploy.max_error_rate: a share between 0 and 1, e.g. 0.05")
	}
	if d.Irreversible != "restore" && d.Irreversible != "stop" {
		problems = append(problems, fmt.Sprintf("deploy.irreversible %q: use restore or stop", d.Irreversible))
	}
	for _, w := range d.Workers {
		if w == "web" || w == "nginx" || w == "db" || w == "redis" || w == "migrate" {
			problems = append(problems, fmt.Sprintf("deploy.workers: %q is not a worker service", w))
		}
	}
	for _, on := range c.Notify.On {
		if on != "success" && on != "failure" && on != "rollback" {
			problems = append(problems, fmt.Sprintf("notify.on: %q is not an event; use success, failure, rollback", on))
		}
	}
	for kind, urls := range map[string][]string{"webhook": c.Notify.Webhook, "slack": c.Notify.Slack, "discord": c.Notify.Discord} {
		for _, u := range urls {
			if !strings.HasPrefix(u, "${") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				problems = append(problems, fmt.Sprintf("notify.%s: %q is not an http(s) URL or ${VAR}", kind, redact(u)))
			}
		}
	}
	if e := c.Notify.Email; e != nil {
		if e.SMTP == "" || !strings.Contains(e.SMTP, ":") {
			problems = append(problems, "notify.email.smtp: set host:port of the SMTP server")
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			problems = append(problems, fmt.Sprintf("notify.email.from %q: not an address", e.From))
		}
		if len(e.To) == 0 {
			problems = append(problems, "notify.email.to: list at least one address")
		}
		for _, to := range e.To {
			if _, err := mail.ParseAddress(to); err != nil {
				problems = append(problems, fmt.Sprintf("notify.email.to %q: not an address", to))
			}
		}
		if e.Password != "" && !strings.HasPrefix(e.Password, "${") {
			problems = append(problems, "notify.email.password: write it as ${VAR} and put the value in the env file, not in muelle.yaml")
		}
	}
	if c.StateDir == "" {
		problems = append(problems, "state_dir: no default (no home directory); set it")
	}
	return problems
}

// redact keeps a URL's scheme and host only: webhook URLs carry tokens.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "…"
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host + "/…"
}
