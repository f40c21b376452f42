//go:build docker

package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// The example app, built from the offline base, runs behind PostgreSQL and
// nginx: its migrations apply, its own Django tests pass inside the
// container, and it answers over HTTP with the release it was built as.
func TestExampleAppStack(t *testing.T) {
	testutil.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	root := testutil.RepoRoot(t)
	dir := filepath.Join(t.TempDir(), "pinboard")
	testutil.CopyDir(t, filepath.Join(root, "examples", "pinboard"), dir)
	testutil.CopyDir(t, filepath.Join(root, "test", "testdata", "stack"), dir)
	release := "test-" + randomHex(t, 4)
	writeFile(t, filepath.Join(dir, ".env"), fmt.Sprintf(
		"POSTGRES_PASSWORD=%s\nDJANGO_SECRET_KEY=%s\nHTTP_BIND=127.0.0.1:\nRELEASE=%s\n",
		randomHex(t, 16), randomHex(t, 32), release))

	p := testutil.NewProject(t, dir)
	p.MustCompose(ctx, "up", "--detach", "--build", "--wait", "--wait-timeout", "300")

	t.Run("migrations applied", func(t *testing.T) {
		out := p.MustCompose(ctx, "exec", "-T", "web", "python", "manage.py", "showmigrations", "board")
		for _, m := range []string{"[X] 0001_initial", "[X] 0002_default_board"} {
			if !strings.Contains(out, m) {
				t.Errorf("showmigrations board: missing %q in\n%s", m, out)
			}
		}
	})

	t.Run("Django tests pass in the container", func(t *testing.T) {
		out := p.MustCompose(ctx, "exec", "-T", "web", "python", "manage.py", "test", "--noinput", "board")
		if !strings.Contains(out, "\nOK") {
			t.Errorf("manage.py test did not report OK:\n%s", out)
		}
	})

	base := "http://" + p.Addr(ctx, "nginx", 80)

	t.Run("page and health show the release", func(t *testing.T) {
		status, body, _ := httpGet(t, base+"/")
		if status != 200 || !strings.Contains(body, `<code id="release">`+release+`</code>`) {
			t.Errorf("GET /: got %d, want 200 with release %s in\n%s", status, release, body)
		}
		status, body, _ = httpGet(t, base+"/health/")
		var health map[string]string
		if err := json.Unmarshal([]byte(body), &health); err != nil {
			t.Fatalf("GET /health/: %d %q: %v", status, body, err)
		}
		if status != 200 || health["release"] != release || health["database"] != "ok" {
			t.Errorf("GET /health/: got %d %v, want 200 with release %s and database ok", status, health, release)
		}
	})

	t.Run("upload is stored and served back through nginx", func(t *testing.T) {
		content := "uploaded " + randomHex(t, 8)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("title", "upload test")
		fw, _ := mw.CreateFormFile("attachment", "proof.txt")
		_, _ = io.WriteString(fw, content)
		_ = mw.Close()
		resp, err := http.Post(base+"/api/pins/", mw.FormDataContentType(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var pin struct {
			ID         int    `json:"id"`
			Attachment string `json:"attachment"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&pin); err != nil || resp.StatusCode != 201 {
			t.Fatalf("POST /api/pins/: got %d (%v), want 201", resp.StatusCode, err)
		}
		if !strings.HasPrefix(pin.Attachment, "/media/pins/") {
			t.Fatalf("attachment URL: got %q, want it under /media/pins/", pin.Attachment)
		}
		status, body, _ := httpGet(t, base+pin.Attachment)
		if status != 200 || body != content {
			t.Errorf("GET %s: got %d %q, want 200 %q", pin.Attachment, status, body, content)
		}
	})

	t.Run("static files come from nginx", func(t *testing.T) {
		status, body, hdr := httpGet(t, base+"/static/board/style.css")
		if status != 200 || !strings.Contains(body, "Pinboard example app") || hdr.Get("Expires") == "" {
			t.Errorf("GET style.css: got %d, Expires %q, want 200 with the stylesheet and an Expires header", status, hdr.Get("Expires"))
		}
		status, _, _ = httpGet(t, base+"/static/admin/js/vendor/jquery/jquery.js")
		if status != 200 {
			t.Errorf("admin's jQuery (collectstatic): got %d, want 200", status)
		}
	})
}

func httpGet(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
