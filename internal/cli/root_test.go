package cli

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/muelle-dev/muelle/internal/buildinfo"
)

func TestVersionPrintsVersionCommitAndGo(t *testing.T) {
	var out bytes.Buffer
	if err := runVersion(&out, buildinfo.Info{Version: "v1.2.3", Commit: "abc123", GoVersion: "go1.26.8"}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "muelle v1.2.3 (commit abc123, go1.26.8)\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	out.Reset()
	if code := run(context.Background(), []string{"version"}, nil, &out, &out); code != exitOK {
		t.Fatalf("muelle version: exit %d, output %q", code, out.String())
	}
	if !strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("muelle version: got %q, want the Go version %s in it", out.String(), runtime.Version())
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"unknown flag", []string{"--no-such-flag"}, exitUsage, "unknown flag"},
		{"unknown command", []string{"deploi"}, exitUsage, "unknown command"},
		{"extra argument", []string{"version", "extra"}, exitUsage, "takes no arguments"},
		{"unknown image", []string{"images", "build", "mysql"}, exitUsage, "unknown image mysql"},
		{"help", []string{"--help"}, exitOK, "Exit codes:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			got := run(context.Background(), tt.args, nil, &out, &out)
			if got != tt.want || !strings.Contains(out.String(), tt.msg) {
				t.Errorf("muelle %v: got exit %d and %q, want exit %d and a message containing %q", tt.args, got, out.String(), tt.want, tt.msg)
			}
		})
	}
}

// --help lists only commands that work: no placeholders, no cobra extras.
func TestHelpListsOnlyRealCommands(t *testing.T) {
	var out bytes.Buffer
	run(context.Background(), []string{"--help"}, nil, &out, &out)
	var listed []string
	inCommands := false
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			inCommands = true
		case inCommands && strings.TrimSpace(line) == "":
			inCommands = false
		case inCommands:
			listed = append(listed, strings.Fields(line)[0])
		}
	}
	want := []string{"backup", "cleanup", "cron", "deploy", "down", "env", "help", "images", "init", "releases", "restore", "rollback", "schedule", "serve", "service", "up", "version", "webhooks"}
	if strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Errorf("got commands %v, want %v", listed, want)
	}
}
