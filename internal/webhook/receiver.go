package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// MaxPayload is GitHub's cap on webhook payloads: 25 MB.
const MaxPayload = 25 << 20

// Receiver is the HTTP endpoint of one forge.
type Receiver struct {
	// Forge is github, gitlab or gitea.
	Forge   string
	Rules   Rules
	Secrets [][]byte
	Queue   *Queue
	Seen    *Seen
	Log     *ActivityLog
	Logger  *slog.Logger
	Now     func() time.Time

	// TrustedProxies are the addresses of proxies in front of the daemon
	// (nginx, a tunnel): for a request from one of them, the client's
	// address is taken from X-Real-IP or X-Forwarded-For, so that failed
	// checks are limited per client, not for everyone behind the proxy.
	TrustedProxies []*net.IPNet

	limiter *failLimiter
	reading chan struct{}
	small   chan struct{}
}

// maxReading is how many large bodies are read at once: a bound on the
// memory that large (up to 25 MB) deliveries can take. Bodies that declare
// at most smallBody bytes, as pushes do, are read without waiting for one.
// At most maxSmall small bodies are read at once, so that memory stays
// bounded (about 4×25 + 64×1 MB) however many connections are open.
const (
	maxReading = 4
	maxSmall   = 64
	smallBody  = 1 << 20
)

// bodyTimeout bounds the reading of one body, so that a client sending
// slowly cannot hold a reading slot (or a connection) for long. GitHub
// itself gives up on a delivery after 10 seconds.
const bodyTimeout = 10 * time.Second

// slotWait bounds the wait for a reading slot.
const slotWait = 5 * time.Second

// Init sets the defaults: at most 20 failed signature checks per source
// address per minute.
func (rc *Receiver) Init() *Receiver {
	rc.limiter = newFailLimiter(20, time.Minute)
	rc.reading = make(chan struct{}, maxReading)
	rc.small = make(chan struct{}, maxSmall)
	if rc.Now == nil {
		rc.Now = time.Now
	}
	return rc
}

type headers struct {
	event, delivery string
	// verify checks the signature and returns the bytes it covers.
	verify func(body []byte) ([]byte, bool)
}

func (rc *Receiver) headers(r *http.Request) headers {
	h := r.Header
	switch rc.Forge {
	case "gitlab":
		return headers{h.Get("X-Gitlab-Event"), h.Get("X-Gitlab-Event-UUID"),
			func(b []byte) ([]byte, bool) { return b, VerifyToken(rc.Secrets, h.Get("X-Gitlab-Token")) }}
	case "gitea":
		sig := cmpOr(h.Get("X-Gitea-Signature"), h.Get("X-Forgejo-Signature"))
		return headers{cmpOr(h.Get("X-Gitea-Event"), h.Get("X-Forgejo-Event")), cmpOr(h.Get("X-Gitea-Delivery"), h.Get("X-Forgejo-Delivery")),
			func(b []byte) ([]byte, bool) {
				if VerifyGitea(rc.Secrets, b, sig) {
					return b, true
				}
				// Gitea and Forgejo sign the JSON even when they send it
				// form-encoded.
				p, err := payloadOf(r.Header.Get("Content-Type"), b)
				return p, err == nil && len(p) != len(b) && VerifyGitea(rc.Secrets, p, sig)
			}}
	}
	sig := h.Get("X-Hub-Signature-256")
	return headers{h.Get("X-GitHub-Event"), h.Get("X-GitHub-Delivery"),
		func(b []byte) ([]byte, bool) { return b, VerifyGitHub(rc.Secrets, b, sig) }}
}

func (rc *Receiver) decide(event string, payload []byte) (Decision, error) {
	switch rc.Forge {
	case "gitlab":
		return DecideGitLab(rc.Rules, event, payload)
	case "gitea":
		return DecideGitea(rc.Rules, event, payload)
	}
	return DecideGitHub(rc.Rules, event, payload)
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := rc.Now()
	source := rc.source(r)
	e := Entry{Time: now.UTC(), Forge: rc.Forge, Source: source}
	reply := func(status int, decision, reason, body string) {
		e.Status, e.Decision, e.Reason = status, decision, reason
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, body+"\n")
		rc.record(e)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		reply(http.StatusMethodNotAllowed, "invalid", "method "+r.Method, "POST only")
		return
	}
	if rc.limiter.blocked(source, now) {
		// Not in the activity log: a blocked address could fill the disk.
		// The first failures that blocked it are there.
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many failed attempts; try later", http.StatusTooManyRequests)
		return
	}
	if r.ContentLength > MaxPayload {
		reply(http.StatusRequestEntityTooLarge, "invalid", fmt.Sprintf("body of %d bytes", r.ContentLength), "payload too large")
		return
	}
	slots := rc.small
	if r.ContentLength < 0 || r.ContentLength > smallBody {
		slots = rc.reading
	}
	select {
	case slots <- struct{}{}:
	case <-r.Context().Done():
		return
	case <-time.After(slotWait):
		// Every slot held (slow senders, perhaps on purpose): the forge
		// retries, or the operator redelivers; GitHub waits 10 s at most.
		reply(http.StatusServiceUnavailable, "rejected", "too many bodies being read", "busy; redeliver later")
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := readBody(w, r, r.ContentLength)
	<-slots
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reply(http.StatusRequestEntityTooLarge, "invalid", "body over the limit", "payload too large")
			return
		}
		// A body that never arrives held a slot: it counts as a failure.
		rc.limiter.fail(source, now)
		reply(http.StatusBadRequest, "invalid", "reading the body: "+err.Error(), "bad request")
		return
	}
	h := rc.headers(r)
	e.Event, e.Delivery = h.event, h.delivery
	// The signature first: nothing of an unverified body is parsed.
	signed, ok := h.verify(body)
	if !ok {
		rc.limiter.fail(source, now)
		reply(http.StatusUnauthorized, "rejected", "signature missing or wrong", "invalid signature")
		return
	}
	// Replays: the delivery id is not signed, so a captured delivery
	// could be sent again under a new id (or none); its body, signed, is
	// remembered too. Two genuine deliveries never have the same body.
	keys := []string{"body:" + bodyKey(signed)}
	if h.delivery != "" {
		keys = append(keys, h.delivery)
	}
	if rc.Seen != nil {
		dup := false
		for _, k := range keys {
			seen, err := rc.Seen.Check(k, now)
			if err != nil {
				rc.Logger.Error("recording a delivery id failed", "err", err)
			}
			dup = dup || seen
		}
		if dup {
			reply(http.StatusOK, "duplicate", "delivery already received", "duplicate delivery ignored")
			return
		}
	}
	payload, err := payloadOf(r.Header.Get("Content-Type"), body)
	if err == nil {
		var d Decision
		d, err = rc.decide(h.event, payload)
		if err == nil {
			e.Repository, e.Ref, e.Commit, e.Sender = d.Repository, d.Ref, d.Commit, d.Sender
			switch {
			case h.event == "ping":
				reply(http.StatusOK, "ignored", "ping", "pong")
			case d.Deploy:
				e.Queue = rc.Queue.Submit(Job{Commit: d.Commit, Ref: d.Ref, Delivery: h.delivery, Forced: d.Forced,
					Trigger: fmt.Sprintf("%s %s by %s (delivery %s)", rc.Forge, h.event, cmpOr(d.Sender, "unknown"), h.delivery)})
				if e.Queue == "superseded" {
					reply(http.StatusAccepted, "ignored", "a deploy of the same or a newer commit already runs or waits", "ignored: a newer deploy is queued")
					return
				}
				if e.Queue == "closed" {
					// Not taken: a redelivery of this id must be handled anew.
					if rc.Seen != nil {
						for _, k := range keys {
							if err := rc.Seen.Forget(k); err != nil {
								rc.Logger.Error("forgetting a delivery id", "err", err)
							}
						}
					}
					reply(http.StatusServiceUnavailable, "rejected", "shutting down", "shutting down; redeliver later")
					return
				}
				reply(http.StatusAccepted, "deploy", d.Reason, "deploy "+e.Queue)
			default:
				reply(http.StatusAccepted, "ignored", d.Reason, "ignored: "+d.Reason)
			}
			return
		}
	}
	reply(http.StatusBadRequest, "invalid", err.Error(), "malformed payload")
}

// source is the client's address: the peer's, or for a peer that is a
// trusted proxy, the one the proxy passed on: the last address in
// X-Forwarded-For that is not itself a trusted proxy (each proxy appends
// the address it saw, so a client cannot forge that one), and only
// without X-Forwarded-For, X-Real-IP (which a proxy that does not set it
// passes through from the client).
func (rc *Receiver) source(r *http.Request) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	if !rc.trusted(net.ParseIP(peer)) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			ip := net.ParseIP(strings.TrimSpace(hops[i]))
			if ip == nil {
				break
			}
			if !rc.trusted(ip) {
				return ip.String()
			}
		}
		return peer
	}
	if ip := net.ParseIP(strings.TrimSpace(r.Header.Get("X-Real-IP"))); ip != nil {
		return ip.String()
	}
	return peer
}

func (rc *Receiver) trusted(ip net.IP) bool {
	if ip == nil {
		return false
	}
	for _, n := range rc.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func (rc *Receiver) record(e Entry) {
	attrs := []any{"forge", e.Forge, "delivery", e.Delivery, "event", e.Event, "source", e.Source, "status", e.Status, "decision", e.Decision, "reason", e.Reason}
	if e.Commit != "" {
		attrs = append(attrs, "repository", e.Repository, "ref", e.Ref, "commit", e.Commit, "sender", e.Sender)
	}
	rc.Logger.Info("webhook delivery", attrs...)
	if rc.Log != nil {
		if err := rc.Log.Write(e); err != nil {
			rc.Logger.Error("activity log", "err", err)
		}
	}
}

// bodyKey names a body by its SHA-256, for replay detection.
func bodyKey(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// readBody reads at most MaxPayload bytes, growing its buffer as the body
// arrives (no up-front allocation from a declared length).
func readBody(w http.ResponseWriter, r *http.Request, declared int64) ([]byte, error) {
	var buf bytes.Buffer
	if declared > 0 && declared <= smallBody {
		buf.Grow(int(declared) + bytes.MinRead) // small: no regrowth
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxPayload))
	return buf.Bytes(), err
}
