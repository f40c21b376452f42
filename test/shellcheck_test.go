package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// Every shell script muelle ships or runs passes shellcheck: the bench
// scripts and the entrypoints baked into the stand-in images.
func TestShellScriptsPassShellcheck(t *testing.T) {
	shellcheck := testutil.RequireTool(t, "shellcheck")
	root := testutil.RepoRoot(t)
	var scripts []string
	for _, pattern := range []string{"scripts/*", ".ci/*", "internal/baseimage/images/*/*.sh"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(string(b), "#!") && strings.Contains(strings.SplitN(string(b), "\n", 2)[0], "sh") {
				scripts = append(scripts, m)
			}
		}
	}
	if len(scripts) < 5 {
		t.Fatalf("found only %d scripts (%v); the globs are wrong", len(scripts), scripts)
	}
	for _, s := range scripts {
		rel, _ := filepath.Rel(root, s)
		t.Run(rel, func(t *testing.T) {
			cmd := exec.Command(shellcheck, "--external-sources", s)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", rel, err, out)
			}
		})
	}
}
