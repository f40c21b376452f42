package scaffold

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func testFiles() []File {
	return []File{
		{Path: "deploy/entrypoint.sh", Content: []byte("#!/bin/sh\nset -e\nexec \"$@\"\n"), Mode: 0o755},
		{Path: "deploy/nginx/nginx.conf", Content: []byte("events {}\nhttp {\n  server_tokens off;\n}\n"), Mode: 0o644},
		{Path: "Dockerfile", Content: []byte("FROM python:3.11-slim\nWORKDIR /app\n"), Mode: 0o644},
	}
}

// assertNoTempFiles fails if atomicfile left a temporary file under root.
func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("got temporary file %s left behind, want none", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertFile fails unless path holds content with mode.
func assertFile(t *testing.T, path string, content []byte, mode fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("%s: got content %q, want %q", path, got, content)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != mode {
		t.Errorf("%s: got mode %04o, want %04o", path, info.Mode().Perm(), mode)
	}
}

// assertActions fails unless changes are one per file, in order, each with
// action.
func assertActions(t *testing.T, changes []Change, files []File, action Action) {
	t.Helper()
	if len(changes) != len(files) {
		t.Fatalf("got %d changes %+v, want %d", len(changes), changes, len(files))
	}
	for i, c := range changes {
		if c.Path != files[i].Path {
			t.Errorf("change %d: got path %q, want %q", i, c.Path, files[i].Path)
		}
		if c.Action != action {
			t.Errorf("%s: got action %q, want %q", c.Path, c.Action, action)
		}
	}
}

// past sets path's modification time to a fixed time in the past, so a
// rewrite would show, and returns it.
func past(t *testing.T, path string) time.Time {
	t.Helper()
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return mtime
}

func assertMtime(t *testing.T, path string, want time.Time) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !info.ModTime().Equal(want) {
		t.Errorf("%s: got mtime %v, want %v (unchanged)", path, info.ModTime(), want)
	}
}

func TestWrite(t *testing.T) {
	t.Run("creates files with their modes", func(t *testing.T) {
		root := t.TempDir()
		files := testFiles()
		changes, err := Write(root, files, false)
		if err != nil {
			t.Fatalf("Write: got error %v, want nil", err)
		}
		assertActions(t, changes, files, Created)
		for _, c := range changes {
			if c.Diff != "" {
				t.Errorf("%s: got diff %q, want none", c.Path, c.Diff)
			}
		}
		for _, f := range files {
			assertFile(t, filepath.Join(root, filepath.FromSlash(f.Path)), f.Content, fs.FileMode(f.Mode))
		}
		assertFile(t, filepath.Join(root, "deploy", "entrypoint.sh"), files[0].Content, 0o755)
		assertNoTempFiles(t, root)
	})

	for _, force := range []bool{false, true} {
		name := "same content is unchanged"
		if force {
			name += " with force"
		}
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			files := testFiles()
			if _, err := Write(root, files, false); err != nil {
				t.Fatal(err)
			}
			mtimes := map[string]time.Time{}
			for _, f := range files {
				path := filepath.Join(root, filepath.FromSlash(f.Path))
				mtimes[path] = past(t, path)
			}
			changes, err := Write(root, files, force)
			if err != nil {
				t.Fatalf("Write: got error %v, want nil", err)
			}
			assertActions(t, changes, files, Unchanged)
			for _, c := range changes {
				if c.Diff != "" {
					t.Errorf("%s: got diff %q, want none", c.Path, c.Diff)
				}
			}
			for _, f := range files {
				path := filepath.Join(root, filepath.FromSlash(f.Path))
				assertFile(t, path, f.Content, fs.FileMode(f.Mode))
				assertMtime(t, path, mtimes[path])
			}
			assertNoTempFiles(t, root)
		})
	}

	const (
		oldContent = "server {\n  listen 80;\n  root /old;\n  index index.html;\n}\n"
		newContent = "server {\n  listen 80;\n  root /new;\n  index index.html;\n}\n"
	)
	wantDiff := []string{
		"--- a/deploy/site.conf\n",
		"+++ b/deploy/site.conf\n",
		"\n-  root /old;\n",
		"\n+  root /new;\n",
		"\n   listen 80;\n", // context
	}
	setup := func(t *testing.T) (root, path string, files []File) {
		root = t.TempDir()
		path = filepath.Join(root, "deploy", "site.conf")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(oldContent), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		return root, path, []File{{Path: "deploy/site.conf", Content: []byte(newContent), Mode: 0o644}}
	}

	t.Run("different content is kept without force", func(t *testing.T) {
		root, path, files := setup(t)
		mtime := past(t, path)
		changes, err := Write(root, files, false)
		if err != nil {
			t.Fatalf("Write: got error %v, want nil", err)
		}
		assertActions(t, changes, files, Kept)
		assertFile(t, path, []byte(oldContent), 0o600)
		assertMtime(t, path, mtime)
		for _, want := range wantDiff {
			if !strings.Contains(changes[0].Diff, want) {
				t.Errorf("got diff %q, want it to contain %q", changes[0].Diff, want)
			}
		}
		if strings.Contains(changes[0].Diff, "-  listen 80;") || strings.Contains(changes[0].Diff, "+  listen 80;") {
			t.Errorf("got diff %q, want unchanged lines as context only", changes[0].Diff)
		}
		assertNoTempFiles(t, root)
	})

	t.Run("different content is replaced with force", func(t *testing.T) {
		root, path, files := setup(t)
		changes, err := Write(root, files, true)
		if err != nil {
			t.Fatalf("Write: got error %v, want nil", err)
		}
		assertActions(t, changes, files, Replaced)
		assertFile(t, path, []byte(newContent), 0o644)
		if changes[0].Diff == "" {
			t.Fatalf("got empty diff, want the change")
		}
		for _, want := range wantDiff {
			if !strings.Contains(changes[0].Diff, want) {
				t.Errorf("got diff %q, want it to contain %q", changes[0].Diff, want)
			}
		}
		assertNoTempFiles(t, root)
	})

	t.Run("mixed", func(t *testing.T) {
		root, path, files := setup(t)
		files = append(files, testFiles()...)
		if _, err := Write(root, files[1:2], false); err != nil {
			t.Fatal(err)
		}
		changes, err := Write(root, files, false)
		if err != nil {
			t.Fatalf("Write: got error %v, want nil", err)
		}
		var got []Action
		for _, c := range changes {
			got = append(got, c.Action)
		}
		if want := []Action{Kept, Unchanged, Created, Created}; !slices.Equal(got, want) {
			t.Errorf("got actions %v, want %v", got, want)
		}
		assertFile(t, path, []byte(oldContent), 0o600)
		assertNoTempFiles(t, root)
	})
}

func certPaths(root string) (certPath, keyPath string) {
	dir := filepath.Join(root, filepath.FromSlash(CertDir))
	return filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
}

func readCertificate(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: got no CERTIFICATE block, want one", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("%s: got trailing data %q, want none", path, rest)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return cert
}

func TestEnsureCertificate(t *testing.T) {
	t.Run("writes a pair", func(t *testing.T) {
		root := t.TempDir()
		hosts := []string{"example.org", "www.example.org"}
		wrote, err := EnsureCertificate(root, hosts)
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		if !wrote {
			t.Errorf("got wrote false, want true")
		}
		certPath, keyPath := certPaths(root)
		for path, want := range map[string]fs.FileMode{certPath: 0o644, keyPath: 0o600} {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != want {
				t.Errorf("%s: got mode %04o, want %04o", path, got, want)
			}
		}

		cert := readCertificate(t, certPath)
		for _, want := range append(hosts, "localhost") {
			if !slices.Contains(cert.DNSNames, want) {
				t.Errorf("got DNS names %q, want them to include %q", cert.DNSNames, want)
			}
		}
		if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) }) {
			t.Errorf("got IP addresses %v, want them to include 127.0.0.1", cert.IPAddresses)
		}
		now := time.Now()
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			t.Errorf("got validity %v to %v, want it to include now (%v)", cert.NotBefore, cert.NotAfter, now)
		}
		if minEnd := now.Add(300 * 24 * time.Hour); cert.NotAfter.Before(minEnd) {
			t.Errorf("got NotAfter %v, want at least %v (300 days)", cert.NotAfter, minEnd)
		}
		for _, h := range append(hosts, "localhost") {
			if err := cert.VerifyHostname(h); err != nil {
				t.Errorf("VerifyHostname(%q): got %v, want nil", h, err)
			}
		}
		if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
			t.Errorf("LoadX509KeyPair: got %v, want nil (key matches certificate)", err)
		}
		assertNoTempFiles(t, root)
	})

	t.Run("second call changes nothing", func(t *testing.T) {
		root := t.TempDir()
		if _, err := EnsureCertificate(root, []string{"example.org"}); err != nil {
			t.Fatal(err)
		}
		certPath, keyPath := certPaths(root)
		before := map[string][]byte{}
		mtimes := map[string]time.Time{}
		for _, path := range []string{certPath, keyPath} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			before[path] = data
			mtimes[path] = past(t, path)
		}
		wrote, err := EnsureCertificate(root, []string{"other.example.org"})
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		if wrote {
			t.Errorf("got wrote true, want false")
		}
		for _, path := range []string{certPath, keyPath} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, before[path]) {
				t.Errorf("%s: got content changed, want unchanged", path)
			}
			assertMtime(t, path, mtimes[path])
		}
		assertNoTempFiles(t, root)
	})

	for _, only := range []string{CertFile, KeyFile} {
		t.Run("only "+only, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, filepath.FromSlash(CertDir))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			present := filepath.Join(dir, only)
			if err := os.WriteFile(present, []byte("existing\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			wrote, err := EnsureCertificate(root, []string{"example.org"})
			if err == nil {
				t.Fatalf("got nil error, want one")
			}
			if wrote {
				t.Errorf("got wrote true, want false")
			}
			for _, name := range []string{CertFile, KeyFile} {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("got error %q, want it to name %s", err, name)
				}
			}
			if data, err := os.ReadFile(present); err != nil || string(data) != "existing\n" {
				t.Errorf("%s: got %q, %v, want it untouched", present, data, err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("got %d files in %s, want only %s", len(entries), CertDir, only)
			}
		})
	}

	t.Run("skips * and repeated names", func(t *testing.T) {
		root := t.TempDir()
		if _, err := EnsureCertificate(root, []string{"*", "", "example.org", "example.org", "localhost", "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		certPath, _ := certPaths(root)
		cert := readCertificate(t, certPath)
		if want := []string{"example.org", "localhost"}; !slices.Equal(cert.DNSNames, want) {
			t.Errorf("got DNS names %q, want %q", cert.DNSNames, want)
		}
		if got := len(cert.IPAddresses); got != 2 {
			t.Errorf("got IP addresses %v, want 127.0.0.1 and ::1", cert.IPAddresses)
		}
	})

	t.Run("leaves the caller's slice alone", func(t *testing.T) {
		backing := []string{"example.org", "a.example.org", "b.example.org", "c.example.org"}
		want := slices.Clone(backing)
		if _, err := EnsureCertificate(t.TempDir(), backing[:1]); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(backing, want) {
			t.Errorf("got backing array %q, want %q", backing, want)
		}
	})
}
