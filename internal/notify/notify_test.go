package notify

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/muelle-dev/muelle/internal/config"
)

func event(kind string) Event {
	start := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	return Event{Kind: kind, Project: "pinboard", Operation: "deploy", Release: "abc123def456", Previous: "0123456789ab",
		Serving: "0123456789ab", Trigger: "push by ana", Started: start, Finished: start.Add(42 * time.Second),
		Summary: "deploy of abc123def456 failed and was rolled back", Error: "readiness answered 500", Backup: "20261203T180000Z-1a2b"}
}

// receiver records the bodies posted to it.
type receiver struct {
	mu     sync.Mutex
	bodies []map[string]any
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body map[string]any
	data, _ := io.ReadAll(req.Body)
	if req.Header.Get("Content-Type") != "application/json" || json.Unmarshal(data, &body) != nil {
		http.Error(w, "not json", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	if r.status != 0 {
		w.WriteHeader(r.status)
	}
}

func TestWebhooks(t *testing.T) {
	var generic, slack, discord receiver
	srv := httptest.NewServer(http.NewServeMux())
	mux := srv.Config.Handler.(*http.ServeMux)
	mux.Handle("/generic", &generic)
	mux.Handle("/services/T000/B000/secret-token", &slack)
	mux.Handle("/api/webhooks/1/secret-token", &discord)
	defer srv.Close()

	var logs strings.Builder
	cfg := config.Notify{
		On:      []string{"success", "failure", "rollback"},
		Webhook: []string{srv.URL + "/generic"},
		Slack:   []string{"${SLACK_URL}"},
		Discord: []string{srv.URL + "/api/webhooks/1/secret-token"},
	}
	lookup := func(k string) (string, bool) {
		if k == "SLACK_URL" {
			return srv.URL + "/services/T000/B000/secret-token", true
		}
		return "", false
	}
	n := New(cfg, lookup, slog.New(slog.NewTextHandler(&logs, nil)))
	n.Send(t.Context(), event("failure"))

	if len(generic.bodies) != 1 || generic.bodies[0]["event"] != "failure" || generic.bodies[0]["release"] != "abc123def456" || generic.bodies[0]["backup"] != "20261203T180000Z-1a2b" {
		t.Fatalf("generic webhook got %v", generic.bodies)
	}
	if len(slack.bodies) != 1 || !strings.Contains(slack.bodies[0]["text"].(string), "readiness answered 500") {
		t.Fatalf("slack got %v", slack.bodies)
	}
	if len(discord.bodies) != 1 || !strings.Contains(discord.bodies[0]["content"].(string), "serving now: 0123456789ab") {
		t.Fatalf("discord got %v", discord.bodies)
	}
	if strings.Contains(logs.String(), "secret-token") {
		t.Fatalf("logs show a webhook token:\n%s", logs.String())
	}
}

func TestUndeliverableIsLoggedNotFatal(t *testing.T) {
	var failing receiver
	failing.status = http.StatusInternalServerError
	srv := httptest.NewServer(&failing)
	defer srv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/hook/secret-token"
	// Go's client masks a password in its errors, so the URL as written
	// is not in them: the path's token must go all the same.
	deadWithUser := "http://hookuser:hook-password@" + ln.Addr().String() + "/hook/other-secret-token"
	ln.Close() // nothing listens there any more

	var logs strings.Builder
	n := New(config.Notify{On: []string{"success"}, Webhook: []string{srv.URL + "/x", dead, deadWithUser}, Slack: []string{"${UNSET_VAR_FOR_TEST}"}},
		func(string) (string, bool) { return "", false }, slog.New(slog.NewTextHandler(&logs, nil)))
	start := time.Now()
	n.Send(t.Context(), event("success"))
	if time.Since(start) > 11*time.Second {
		t.Fatalf("Send took %s", time.Since(start))
	}
	out := logs.String()
	for _, want := range []string{"500 Internal Server Error", "connection refused", "UNSET_VAR_FOR_TEST"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"secret-token", "hook-password", "hookuser"} {
		if strings.Contains(out, secret) {
			t.Fatalf("logs show a webhook's %s:\n%s", secret, out)
		}
	}
	// Events not subscribed to are not sent.
	failing.bodies = nil
	n.Send(t.Context(), event("failure"))
	if len(failing.bodies) != 0 {
		t.Fatal("an event outside notify.on was sent")
	}
}

// mailbox is a real SMTP server (go-smtp) that keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []mailMsg
	user string
	pass string
}

type mailMsg struct {
	from string
	to   []string
	data string
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: m}, nil }

type mailSession struct {
	box  *mailbox
	msg  mailMsg
	auth bool
}

func (s *mailSession) AuthMechanisms() []string { return []string{"PLAIN"} }
func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.box.user || pass != s.box.pass {
			return errors.New("invalid credentials")
		}
		s.auth = true
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.box.user != "" && !s.auth {
		return smtp.ErrAuthRequired
	}
	s.msg.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = string(data)
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, s.msg)
	s.box.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        { s.msg = mailMsg{} }
func (s *mailSession) Logout() error { return nil }

func startSMTP(t *testing.T, box *mailbox) string {
	t.Helper()
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestEmail(t *testing.T) {
	box := &mailbox{user: "muelle", pass: "s3cret-pass"}
	addr := startSMTP(t, box)
	// net/smtp sends PLAIN credentials without TLS only to localhost.
	addr = strings.Replace(addr, "127.0.0.1", "localhost", 1)
	cfg := config.Notify{On: []string{"rollback"}, Email: &config.Email{
		SMTP: addr, Username: "muelle", Password: "${SMTP_PASSWORD}",
		From: "muelle <deploy@example.com>", To: []string{"ops@example.com", "Ana <ana@example.com>"},
	}}
	lookup := func(k string) (string, bool) {
		return map[string]string{"SMTP_PASSWORD": "s3cret-pass"}[k], k == "SMTP_PASSWORD"
	}
	var logs strings.Builder
	n := New(cfg, lookup, slog.New(slog.NewTextHandler(&logs, nil)))
	e := event("rollback")
	e.Summary = ".dot-leading summary survives"
	n.Send(t.Context(), e)
	if len(box.msgs) != 1 {
		t.Fatalf("got %d messages; logs:\n%s", len(box.msgs), logs.String())
	}
	m := box.msgs[0]
	if m.from != "deploy@example.com" || strings.Join(m.to, ",") != "ops@example.com,ana@example.com" {
		t.Fatalf("envelope from %s to %v", m.from, m.to)
	}
	for _, want := range []string{"Subject: [muelle] pinboard: rollback abc123def456", "readiness answered 500", "\r\n↩️ pinboard: .dot-leading summary survives\r\n"} {
		if !strings.Contains(m.data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.data)
		}
	}

	// A wrong password is logged without the password.
	box.pass = "other"
	logs.Reset()
	n.Send(t.Context(), e)
	if len(box.msgs) != 1 || !strings.Contains(logs.String(), "smtp auth as muelle") || strings.Contains(logs.String(), "s3cret-pass") {
		t.Fatalf("after a refused login: %d messages; logs:\n%s", len(box.msgs), logs.String())
	}
}
