//go:build docker

package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
)

// The production image init's Dockerfile builds for the example app, against
// a naive single-stage Dockerfile of the same app on the same base that keeps
// a compiler and libpq's headers. Goal: size ratio 0.6 or less.
func BenchmarkImageSize(b *testing.B) {
	testutil.RequireDocker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root := testutil.RepoRoot(b)
	dir := filepath.Join(b.TempDir(), "pinboard")
	testutil.CopyDir(b, filepath.Join(root, "examples", "pinboard"), dir)
	if out, err := exec.CommandContext(ctx, muelleBin, "init", dir).CombinedOutput(); err != nil {
		b.Fatalf("muelle init: %v\n%s", err, out)
	}
	naive, err := os.ReadFile(filepath.Join(root, "test", "testdata", "naive.Dockerfile"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "naive.Dockerfile"), naive, 0o644); err != nil {
		b.Fatal(err)
	}
	tag := "muelle-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	images := map[string]string{"init": tag + ":init", "naive": tag + ":naive"}
	b.Cleanup(func() {
		exec.Command("docker", "image", "rm", "--force", images["init"], images["naive"]).Run()
	})

	var size, layers map[string]float64
	for b.Loop() {
		size, layers = map[string]float64{}, map[string]float64{}
		for kind, dockerfile := range map[string]string{"init": "Dockerfile", "naive": "naive.Dockerfile"} {
			build := exec.CommandContext(ctx, "docker", "build", "--quiet", "-f", dockerfile, "-t", images[kind], ".")
			build.Dir = dir
			if out, err := build.CombinedOutput(); err != nil {
				b.Fatalf("docker build %s: %v\n%s", dockerfile, err, out)
			}
			out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Size}} {{len .RootFS.Layers}}", images[kind]).Output()
			if err != nil {
				b.Fatal(err)
			}
			f := strings.Fields(string(out))
			s, _ := strconv.ParseFloat(f[0], 64)
			l, _ := strconv.ParseFloat(f[1], 64)
			size[kind], layers[kind] = s/1e6, l
		}
	}
	b.ReportMetric(size["init"], "init-MB")
	b.ReportMetric(size["naive"], "naive-MB")
	b.ReportMetric(size["init"]/size["naive"], "size-ratio")
	b.ReportMetric(layers["init"], "init-layers")
	b.ReportMetric(layers["naive"], "naive-layers")
}
