package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/muelle-dev/muelle/internal/config"
)

// Event is one deploy or rollback outcome. It is also the generic
// webhook's JSON body.
type Event struct {
	// Kind is success, failure or rollback.
	Kind    string `json:"event"`
	Project string `json:"project"`
	// Operation is deploy or rollback.
	Operation string `json:"operation"`
	// Release is the release deployed (or rolled back to).
	Release string `json:"release"`
	// Previous is the release that served before.
	Previous string `json:"previous,omitempty"`
	// Serving is the release serving now.
	Serving  string    `json:"serving,omitempty"`
	Trigger  string    `json:"trigger,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Summary is one line for people.
	Summary string `json:"summary"`
	Error   string `json:"error,omitempty"`
	// Backup is the pre-deploy backup's id.
	Backup string `json:"backup,omitempty"`
	// DataLoss describes writes lost to a restore, when one happened.
	DataLoss string `json:"data_loss,omitempty"`
	Host     string `json:"host,omitempty"`
}

// Text renders the event for chat and email.
func (e Event) Text() string {
	var b strings.Builder
	icon := map[string]string{"success": "✅", "failure": "❌", "rollback": "↩️"}[e.Kind]
	fmt.Fprintf(&b, "%s %s: %s\n", icon, e.Project, e.Summary)
	if e.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", e.Error)
	}
	if e.DataLoss != "" {
		fmt.Fprintf(&b, "data lost: %s\n", e.DataLoss)
	}
	if e.Serving != "" {
		fmt.Fprintf(&b, "serving now: %s\n", e.Serving)
	}
	if e.Backup != "" {
		fmt.Fprintf(&b, "pre-deploy backup: %s\n", e.Backup)
	}
	fmt.Fprintf(&b, "%s %s, took %s", e.Operation, e.Release, e.Finished.Sub(e.Started).Round(100*time.Millisecond))
	if e.Trigger != "" {
		fmt.Fprintf(&b, ", triggered by %s", e.Trigger)
	}
	if e.Host != "" {
		fmt.Fprintf(&b, ", on %s", e.Host)
	}
	return b.String()
}

// Notifier delivers events to the configured receivers.
type Notifier struct {
	on      []string
	targets []target
	log     *slog.Logger
	client  *http.Client
}

type target struct {
	kind string // webhook, slack, discord, email
	url  string
	// label names the target in logs without its secret parts.
	label string
	email *config.Email
}

var varRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// New resolves ${VAR} references with lookup (then muelle's environment).
// A receiver whose variable is unset is skipped with a warning.
func New(cfg config.Notify, lookup func(string) (string, bool), log *slog.Logger) *Notifier {
	n := &Notifier{on: cfg.On, log: log, client: &http.Client{Timeout: 10 * time.Second}}
	expand := func(s string) (string, bool) {
		ok := true
		out := varRe.ReplaceAllStringFunc(s, func(m string) string {
			name := varRe.FindStringSubmatch(m)[1]
			if v, found := lookup(name); found && v != "" {
				return v
			}
			if v, found := os.LookupEnv(name); found && v != "" {
				return v
			}
			log.Warn("notification receiver skipped: its variable is not set", "variable", name)
			ok = false
			return ""
		})
		return out, ok
	}
	for kind, urls := range map[string][]string{"webhook": cfg.Webhook, "slack": cfg.Slack, "discord": cfg.Discord} {
		for _, u := range urls {
			if v, ok := expand(u); ok {
				n.targets = append(n.targets, target{kind: kind, url: v, label: kind + " " + redact(v)})
			}
		}
	}
	if e := cfg.Email; e != nil {
		c := *e
		var ok bool
		if c.Password, ok = expand(c.Password); ok {
			n.targets = append(n.targets, target{kind: "email", email: &c, label: "email via " + c.SMTP})
		}
	}
	slices.SortFunc(n.targets, func(a, b target) int { return strings.Compare(a.label, b.label) })
	return n
}

// Send delivers e to every receiver, concurrently, and waits (each
// delivery gives up after 10 seconds). Failures are logged, not returned.
func (n *Notifier) Send(ctx context.Context, e Event) {
	if n == nil || !slices.Contains(n.on, e.Kind) {
		return
	}
	if e.Host == "" {
		e.Host, _ = os.Hostname()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.deliver(ctx, t, e); err != nil {
				n.log.Warn("notification not delivered", "to", t.label, "event", e.Kind, "err", err)
				return
			}
			n.log.Info("notification delivered", "to", t.label, "event", e.Kind)
		}()
	}
	wg.Wait()
}

func (n *Notifier) deliver(ctx context.Context, t target, e Event) error {
	switch t.kind {
	case "webhook":
		return n.post(ctx, t, e)
	case "slack":
		return n.post(ctx, t, map[string]string{"text": e.Text()})
	case "discord":
		text := e.Text()
		if len(text) > 1900 { // Discord refuses content over 2000 characters
			text = text[:1900] + "…"
		}
		return n.post(ctx, t, map[string]string{"content": text})
	case "email":
		return sendMail(ctx, t.email, e)
	}
	return fmt.Errorf("unknown receiver %s", t.kind)
}

func (n *Notifier) post(ctx context.Context, t target, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("bad URL") // the URL holds a token: do not echo it
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "muelle")
	resp, err := n.client.Do(req)
	if err != nil {
		return scrub(err, t.url)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// scrub removes the URL (and its token) from an HTTP client error. Go's
// client quotes the URL with any password masked, so the URL itself would
// not match: a *url.Error is rebuilt around the redacted URL.
func scrub(err error, u string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %s", ue.Op, redact(u), strings.ReplaceAll(ue.Err.Error(), u, redact(u)))
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), u, redact(u)))
}

// redact keeps a URL's scheme and host only: no user or password, no path
// or query (which hold the tokens of Slack's and Discord's webhooks).
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "…"
	}
	host, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	return scheme + "://" + host + "/…"
}
