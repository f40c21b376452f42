//go:build docker

package test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// Re-running the bench set-up on a machine that has everything must take
// seconds: engine, compose and images are all checked, none rebuilt.
func BenchmarkBootstrapWarm(b *testing.B) {
	testutil.RequireDocker(b)
	root := testutil.RepoRoot(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The first run may have work to do; measure the ones after it.
	bootstrap := func() {
		cmd := exec.CommandContext(ctx, "scripts/bootstrap")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("scripts/bootstrap: %v\n%s", err, out)
		}
	}
	bootstrap()
	for b.Loop() {
		bootstrap()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
}
