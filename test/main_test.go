//go:build docker

package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// muelleBin is the muelle binary the Docker tests run, built once, as a
// user would run it.
var muelleBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "muelle-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	muelleBin = filepath.Join(dir, "muelle")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", muelleBin, "../cmd/muelle")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build muelle: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// muelle runs the muelle binary and returns its combined output, failing the
// test when it fails.
func muelle(t testing.TB, args ...string) string {
	t.Helper()
	out, err := muelleErr(t, args...)
	if err != nil {
		t.Fatalf("muelle %v: %v\n%s", args, err, out)
	}
	return out
}

func muelleErr(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, muelleBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
