package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/config"
)

// sendMail sends e as a plain-text message. Port 465 speaks TLS from the
// start; other ports upgrade with STARTTLS when the server offers it.
// Credentials are only sent over TLS (net/smtp refuses otherwise, except
// to localhost).
func sendMail(ctx context.Context, c *config.Email, e Event) error {
	host, port, err := net.SplitHostPort(c.SMTP)
	if err != nil {
		return fmt.Errorf("smtp %q: %w", c.SMTP, err)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	if port == "465" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: host}}).DialContext(ctx, "tcp", c.SMTP)
	} else {
		conn, err = d.DialContext(ctx, "tcp", c.SMTP)
	}
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer cl.Close()
	if ok, _ := cl.Extension("STARTTLS"); ok && port != "465" {
		if err := cl.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if c.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, host)); err != nil {
			return fmt.Errorf("smtp auth as %s: %w", c.Username, err)
		}
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return err
	}
	if err := cl.Mail(from.Address); err != nil {
		return err
	}
	var to []string
	for _, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return err
		}
		if err := cl.Rcpt(a.Address); err != nil {
			return err
		}
		to = append(to, a.String())
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(message(from.String(), to, e)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

func message(from string, to []string, e Event) []byte {
	var b bytes.Buffer
	subject := fmt.Sprintf("[muelle] %s: %s %s", e.Project, e.Kind, e.Release)
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", e.Finished.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	// (The SMTP data writer dot-stuffs lines itself.)
	for _, line := range strings.Split(e.Text(), "\n") {
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}
