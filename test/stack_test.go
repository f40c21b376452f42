//go:build docker

package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// stack is a production stack of the example app, written by muelle init and
// started by muelle up.
type stack struct {
	t       testing.TB
	dir     string
	release string
	proj    *testutil.Project
	client  *http.Client // HTTPS, trusting the stack's self-signed certificate
}

func newStack(t testing.TB) *stack {
	t.Helper()
	testutil.RequireDocker(t)
	root := testutil.RepoRoot(t)
	dir := filepath.Join(t.TempDir(), "pinboard")
	testutil.CopyDir(t, filepath.Join(root, "examples", "pinboard"), dir)
	s := &stack{t: t, dir: dir, release: "rel-" + randomHex(t, 4)}
	s.proj = testutil.NewProject(t, dir)
	s.proj.Files, s.proj.EnvFile = []string{"compose.prod.yaml"}, ".env.production"

	muelle(t, "init", dir)
	muelle(t, "env", "new", dir, "--host", "localhost",
		"--set", "HTTP_BIND=127.0.0.1:", "--set", "HTTPS_BIND=127.0.0.1:", "--set", "MUELLE_RELEASE="+s.release)
	return s
}

func (s *stack) up() {
	s.t.Helper()
	out := muelle(s.t, "up", s.dir, "--project-name", s.proj.Name)
	if !strings.Contains(out, "is up: https://localhost:") {
		s.t.Fatalf("muelle up: want the URL in its output, got:\n%s", out)
	}
	s.client = s.httpsClient()
}

// httpsClient trusts deploy/certs/fullchain.pem and dials the published
// HTTPS port whatever the URL's host, so requests carry Host: localhost.
func (s *stack) httpsClient() *http.Client {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.dir, "deploy", "certs", "fullchain.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatal("deploy/certs/fullchain.pem holds no certificate")
	}
	https := s.proj.Addr(context.Background(), "nginx", 443)
	http80 := s.proj.Addr(context.Background(), "nginx", 80)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if strings.HasSuffix(addr, ":80") {
					return dialer.DialContext(ctx, "tcp", http80)
				}
				return dialer.DialContext(ctx, "tcp", https)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *stack) get(path string) (*http.Response, string) {
	s.t.Helper()
	resp, err := s.client.Get("https://localhost" + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (s *stack) exec(ctx context.Context, service string, args ...string) string {
	s.t.Helper()
	return s.proj.MustCompose(ctx, append([]string{"exec", "-T", service}, args...)...)
}

// uploadPin creates a pin with a file through the app's API over HTTPS.
func (s *stack) uploadPin(title, content string) (id int, attachment string) {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("title", title)
	fw, _ := mw.CreateFormFile("attachment", "proof.txt")
	_, _ = io.WriteString(fw, content)
	_ = mw.Close()
	resp, err := s.client.Post("https://localhost/api/pins/", mw.FormDataContentType(), &buf)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var pin struct {
		ID         int    `json:"id"`
		Attachment string `json:"attachment"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pin); err != nil || resp.StatusCode != 201 {
		s.t.Fatalf("POST /api/pins/: got %d (%v), want 201", resp.StatusCode, err)
	}
	return pin.ID, pin.Attachment
}

// The example app's production stack comes up healthy from muelle init's
// files alone and behaves as the init issue promises.
func TestInitUpProductionStack(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	t.Run("generated files pass the real tools", func(t *testing.T) {
		s.proj.MustCompose(ctx, "config", "--quiet")
		testutil.RequireTool(t, "shellcheck")
		if out, err := runCmd(ctx, "shellcheck", filepath.Join(s.dir, "deploy", "docker-entrypoint.sh")); err != nil {
			t.Errorf("shellcheck deploy/docker-entrypoint.sh: %v\n%s", err, out)
		}
	})

	s.up()

	t.Run("no secret in the image", func(t *testing.T) {
		env, err := os.ReadFile(filepath.Join(s.dir, ".env.production"))
		if err != nil {
			t.Fatal(err)
		}
		image := strings.TrimSpace(s.proj.MustCompose(ctx, "images", "--quiet", "web"))
		history, err := runCmd(ctx, "docker", "history", "--no-trunc", image)
		if err != nil {
			t.Fatal(err)
		}
		inspect, err := runCmd(ctx, "docker", "image", "inspect", image)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"} {
			m := regexp.MustCompile(`(?m)^` + name + `=(.+)$`).FindSubmatch(env)
			if m == nil {
				t.Fatalf("%s not in .env.production", name)
			}
			if strings.Contains(history+inspect, string(m[1])) {
				t.Errorf("the value of %s is in the image's history or configuration", name)
			}
		}
		out, _ := s.proj.Compose(ctx, "run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "web", "-c", "ls -a /app; ls /app/deploy/certs 2>&1")
		if strings.Contains(out, ".env.production\n") || strings.Contains(out, "privkey.pem") {
			t.Errorf("the image holds the env file or the private key:\n%s", out)
		}
	})

	t.Run("nginx -t", func(t *testing.T) {
		s.exec(ctx, "nginx", "nginx", "-t")
	})

	t.Run("check --deploy reports no issues", func(t *testing.T) {
		out := s.exec(ctx, "web", "python", "manage.py", "check", "--deploy", "--fail-level", "WARNING")
		if !strings.Contains(out, "System check identified no issues (0 silenced).") {
			t.Errorf("manage.py check --deploy:\n%s", out)
		}
	})

	t.Run("migrations applied and the app's own tests pass", func(t *testing.T) {
		out := s.exec(ctx, "web", "python", "manage.py", "showmigrations", "board")
		if !strings.Contains(out, "[X] 0002_default_board") {
			t.Errorf("showmigrations board:\n%s", out)
		}
		out = s.exec(ctx, "web", "env", "DJANGO_SETTINGS_MODULE=muelle_settings.development",
			"python", "manage.py", "test", "--noinput", "board")
		if !strings.Contains(out, "\nOK") {
			t.Errorf("manage.py test:\n%s", out)
		}
	})

	t.Run("page over HTTPS shows the release, with security headers", func(t *testing.T) {
		resp, body := s.get("/")
		if resp.StatusCode != 200 || !strings.Contains(body, `<code id="release">`+s.release+`</code>`) {
			t.Errorf("GET /: got %d, want 200 with release %s", resp.StatusCode, s.release)
		}
		for name, want := range map[string]string{
			"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
			"X-Content-Type-Options":    "nosniff",
			"X-Frame-Options":           "DENY",
			"Referrer-Policy":           "same-origin",
			"Content-Security-Policy":   "frame-ancestors 'none'",
		} {
			if got := resp.Header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("header %s: got %q, want exactly %q", name, got, want)
			}
		}
		resp, body = s.get("/healthz")
		if resp.StatusCode != 200 || !strings.Contains(body, `"release": "`+s.release+`"`) {
			t.Errorf("GET /healthz: got %d %s", resp.StatusCode, body)
		}
		resp, body = s.get("/readyz")
		if resp.StatusCode != 200 || strings.Count(body, `"status": "ok"`) != 3 {
			t.Errorf("GET /readyz: got %d %s, want 200 with database and cache ok", resp.StatusCode, body)
		}
	})

	t.Run("HTTP redirects to HTTPS but keeps the ACME path", func(t *testing.T) {
		resp, err := s.client.Get("http://localhost/some/page?x=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://localhost/some/page?x=1" {
			t.Errorf("GET http:///some/page: got %d to %q, want 301 to https://localhost/some/page?x=1", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, err = s.client.Get("http://localhost/.well-known/acme-challenge/token")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("ACME challenge path over HTTP: got %d, want 404 from the webroot, not a redirect", resp.StatusCode)
		}
	})

	t.Run("static files from nginx with cache headers", func(t *testing.T) {
		resp, body := s.get("/static/board/style.css")
		if resp.StatusCode != 200 || !strings.Contains(body, "Pinboard example app") || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
			t.Errorf("GET style.css: got %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Error("static files lack the security headers")
		}
		resp, _ = s.get("/static/admin/js/vendor/jquery/jquery.js")
		if resp.StatusCode != 200 {
			t.Errorf("admin's jQuery: got %d, want 200", resp.StatusCode)
		}
	})

	content := "uploaded " + randomHex(t, 8)
	pinID, attachment := s.uploadPin("upload test", content)

	t.Run("upload is served back under the media URL", func(t *testing.T) {
		if !strings.HasPrefix(attachment, "/media/pins/") {
			t.Fatalf("attachment URL: got %q, want it under /media/pins/", attachment)
		}
		resp, body := s.get(attachment)
		if resp.StatusCode != 200 || body != content {
			t.Errorf("GET %s: got %d %q, want 200 %q", attachment, resp.StatusCode, body, content)
		}
	})

	t.Run("session survives a web restart", func(t *testing.T) {
		_, body := s.get("/")
		first := visits(t, body)
		s.proj.MustCompose(ctx, "restart", "web")
		waitHealthy(t, s)
		_, body = s.get("/")
		if got := visits(t, body); got != first+1 {
			t.Errorf("visits after restart: got %d, want %d (the session should live in Redis)", got, first+1)
		}
	})

	t.Run("PostgreSQL and Redis publish no port", func(t *testing.T) {
		for _, svc := range []string{"db", "redis"} {
			out := s.proj.MustCompose(ctx, "ps", "--format", "{{.Publishers}}", svc)
			if strings.Contains(out, "PublishedPort:") && regexp.MustCompile(`PublishedPort:[1-9]`).MatchString(out) {
				t.Errorf("%s publishes a port: %s", svc, out)
			}
		}
		for _, port := range []string{"5432", "6379"} {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
				c.Close()
				t.Errorf("127.0.0.1:%s accepts connections, want nothing listening there", port)
			}
		}
	})

	t.Run("rate limits answer 429", func(t *testing.T) {
		codes := burst(s, "GET", "/healthz", 150)
		if codes[429] == 0 || codes[200] == 0 {
			t.Errorf("150 concurrent requests: got %v, want some 200 and some 429", codes)
		}
		time.Sleep(3 * time.Second) // let the general zone refill
		codes = burst(s, "POST", "/accounts/login/", 10)
		if codes[429] < 3 {
			t.Errorf("10 sign-in POSTs: got %v, want at least 3 answered 429 by the login zone", codes)
		}
	})

	t.Run("data survives muelle down and up", func(t *testing.T) {
		muelle(t, "down", s.dir, "--project-name", s.proj.Name)
		s.up()
		resp, body := s.get(fmt.Sprintf("/api/pins/%d/", pinID))
		if resp.StatusCode != 200 || !strings.Contains(body, "upload test") {
			t.Errorf("pin %d after down+up: got %d %s", pinID, resp.StatusCode, body)
		}
		resp, body = s.get(attachment)
		if resp.StatusCode != 200 || body != content {
			t.Errorf("upload after down+up: got %d %q, want %q", resp.StatusCode, body, content)
		}
	})

	t.Run("down --volumes without confirmation removes nothing", func(t *testing.T) {
		out, err := muelleErr(t, "down", s.dir, "--project-name", s.proj.Name, "--volumes")
		if err == nil || !strings.Contains(out, "not confirmed; nothing was removed") {
			t.Fatalf("muelle down --volumes with no answer: got err=%v\n%s", err, out)
		}
		vols, err := runCmd(ctx, "docker", "volume", "ls", "--quiet", "--filter", "name="+s.proj.Name+"_db-data")
		if err != nil || strings.TrimSpace(vols) == "" {
			t.Errorf("the database volume is gone after an unconfirmed down --volumes: %v %q", err, vols)
		}
	})
}

var visitsRe = regexp.MustCompile(`visited this page (\d+) time`)

func visits(t *testing.T, body string) int {
	t.Helper()
	m := visitsRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no visit count in page:\n%s", body)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

func waitHealthy(t *testing.T, s *stack) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := s.client.Get("https://localhost/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatal("the app did not answer /readyz within 90s")
}

// burst sends n concurrent requests and counts the status codes.
func burst(s *stack, method, path string, n int) map[int]int {
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(method, "https://localhost"+path, nil)
			resp, err := s.client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[-1]++
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[resp.StatusCode]++
		}()
	}
	wg.Wait()
	return codes
}
