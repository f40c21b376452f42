//go:build docker

package test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/compose"
)

// load is an open-loop load generator: a request every 1/rate seconds,
// whatever the answers take, each tagged with the phase it was sent in.
type load struct {
	phase   atomic.Value // string
	mu      sync.Mutex
	samples map[string][]sample
	dropped atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
}

type sample struct {
	latency time.Duration
	ok      bool
}

func startLoad(b *testing.B, url, host, addr string, rate int) *load {
	l := &load{samples: map[string][]sample{}, stop: make(chan struct{})}
	l.phase.Store("warmup")
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, ServerName: host}, // our own self-signed certificate
		MaxIdleConnsPerHost: 128,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		},
	}}
	jobs := make(chan string, 256)
	for range 96 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for phase := range jobs {
				start := time.Now()
				resp, err := client.Get(url)
				ok := err == nil && resp.StatusCode == 200
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				l.mu.Lock()
				l.samples[phase] = append(l.samples[phase], sample{time.Since(start), ok})
				l.mu.Unlock()
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(jobs)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				select {
				case jobs <- l.phase.Load().(string):
				default:
					l.dropped.Add(1) // every worker busy: the generator, not the server, fell behind
				}
			}
		}
	}()
	return l
}

func (l *load) halt() {
	close(l.stop)
	l.wg.Wait()
}

// stats returns the count, failures and latency percentiles of phases
// taken together.
func (l *load) stats(phases ...string) (n, failed int, p50, p99 time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s []sample
	for _, p := range phases {
		s = append(s, l.samples[p]...)
	}
	if len(s) == 0 {
		return 0, 0, 0, 0
	}
	lat := make([]time.Duration, 0, len(s))
	for _, x := range s {
		if !x.ok {
			failed++
		}
		lat = append(lat, x.latency)
	}
	slices.Sort(lat)
	return len(s), failed, lat[len(lat)/2], lat[len(lat)*99/100]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkDeployUnderLoad: 200 requests/s through nginx during 10 muelle
// deploys and 10 muelle rollbacks, then during the same number of plain
// `docker compose up -d` updates of the same stack, in one run. Then 5
// deploys of a release that fails after the switch, for the time to switch
// back. Reports failed requests, p50/p99 against steady state, muelle's
// own time per deploy beyond building and waiting for health, and the
// switch-back time.
func BenchmarkDeployUnderLoad(b *testing.B) {
	s := newDeployStack(b)
	ctx := context.Background()
	// One client address sends all the load: lift the per-address limits.
	conf := filepath.Join(s.dir, "deploy", "nginx", "default.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		b.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "limit_req zone=") {
			kept = append(kept, line)
		}
	}
	writeFile(b, conf, strings.Join(kept, "\n"))
	s.proj.MustCompose(ctx, "exec", "-T", "nginx", "nginx", "-s", "reload")

	initial := s.serving()
	imageA := s.proj.Name + "-web:" + initial
	s.edit("board/templates/board/index.html", "</", "<!-- release B --></")
	relB := s.commit("release B")
	s.git("checkout", "-q", "-b", "bad", "main")
	// C answers 500 to requests that come through nginx (it sets X-Real-IP)
	// and is healthy to Docker and to muelle's direct probes: only the
	// watch step can catch it.
	s.edit("muelle_settings/health.py", "        if kind == \"healthz\":\n", "        if kind == \"healthz\" and request.META.get(\"HTTP_X_REAL_IP\"):\n            return JsonResponse({\"status\": \"broken\"}, status=500)\n        if kind == \"healthz\":\n")
	relC := s.commit("release C")
	s.git("checkout", "-q", "main")
	// Build both once, outside the measurement.
	muelle(b, "deploy", s.dir, "--ref", relB)
	muelle(b, "rollback", "--dir", s.dir)
	imageB := s.proj.Name + "-web:" + relB

	// /healthz through nginx: a page that needs no database, so that 200
	// requests/s leave this 2-core machine room for the deploys themselves.
	l := startLoad(b, "https://localhost/healthz", "localhost", s.proj.Addr(ctx, "nginx", 443), 200)
	defer l.halt()
	b.ResetTimer()
	time.Sleep(10 * time.Second)
	l.phase.Store("steady")
	time.Sleep(30 * time.Second)

	// Each deploy's wall-clock time, from starting the command to its
	// exit, with the release it recorded.
	type timedDeploy struct {
		wall  time.Duration
		steps []any
	}
	var timed []timedDeploy
	var rollbacks []float64
	start := time.Now()
	for range 10 {
		l.phase.Store("deploy")
		t0 := time.Now()
		muelle(b, "deploy", s.dir, "--ref", relB)
		wall := time.Since(t0)
		rs := s.releases(b)
		if last := rs[len(rs)-1]; last["id"] != relB || last["operation"] != "deploy" {
			b.Fatalf("the newest release is %v %v, want the deploy of %s", last["operation"], last["id"], relB)
		}
		steps, _ := rs[len(rs)-1]["steps"].([]any)
		timed = append(timed, timedDeploy{wall, steps})
		l.phase.Store("rollback")
		t0 = time.Now()
		muelle(b, "rollback", "--dir", s.dir)
		rollbacks = append(rollbacks, time.Since(t0).Seconds())
	}
	muelleTook := time.Since(start)

	l.phase.Store("between")
	time.Sleep(3 * time.Second)
	l.phase.Store("failing")
	for range 5 {
		if out, err := muelleErr(b, "deploy", s.dir, "--ref", relC); err == nil {
			b.Fatalf("release C went live:\n%s", out)
		}
	}
	l.phase.Store("between")
	time.Sleep(3 * time.Second)

	l.phase.Store("compose")
	proj := compose.Project{Dir: s.dir, Files: []string{"compose.prod.yaml"}, EnvFile: ".env.production", Name: s.proj.Name}
	start = time.Now()
	for i := range 20 {
		img, rel := imageB, relB
		if i%2 == 1 {
			img, rel = imageA, initial
		}
		if err := proj.With("MUELLE_IMAGE="+img, "MUELLE_RELEASE="+rel).Run(ctx, io.Discard, io.Discard, "up", "--detach", "--wait"); err != nil {
			b.Fatal(err)
		}
	}
	composeTook := time.Since(start)
	l.phase.Store("after")
	b.StopTimer()

	// muelle's own time per deploy: the command's wall-clock time (process
	// start to exit, so steps that overlap count once) less the build, the
	// new web and worker containers' start and health, the configured
	// watch and drain.
	var own, switchBack, deploys []float64
	stepTimes := map[string][]float64{}
	for _, d := range timed {
		var excluded float64
		for _, st := range d.steps {
			m := st.(map[string]any)
			sec := m["took_ns"].(float64) / 1e9
			stepTimes[m["name"].(string)] = append(stepTimes[m["name"].(string)], sec)
			switch m["name"] {
			case "build", "image", "start", "watch": // watch includes the workers' update
				excluded += sec
			case "retire":
				excluded += min(sec, 1) // deploy.drain: 1s
			}
		}
		deploys = append(deploys, d.wall.Seconds())
		own = append(own, d.wall.Seconds()-excluded)
	}
	for _, r := range s.releases(b) {
		if r["status"] == "failed" && r["switch_back_ns"] != nil {
			switchBack = append(switchBack, r["switch_back_ns"].(float64)/1e6)
		}
	}
	// One line: go test keeps only the first lines a benchmark logs.
	var medians []string
	for _, name := range slices.Sorted(maps.Keys(stepTimes)) {
		medians = append(medians, fmt.Sprintf("%s %.2fs", name, median(stepTimes[name])))
	}
	b.Logf("deploy steps, median over %d deploys: %s", len(timed), strings.Join(medians, ", "))
	_, _, p50s, p99s := l.stats("steady")
	nm, fm, p50m, p99m := l.stats("deploy", "rollback")
	_, fd, p50d, p99d := l.stats("deploy")
	_, fr, p50r, p99r := l.stats("rollback")
	b.Logf("during deploys: %d failed, p50 %s p99 %s; during rollbacks: %d failed, p50 %s p99 %s", fd, p50d, p99d, fr, p50r, p99r)
	nc, fc, p50c, p99c := l.stats("compose")
	nf, ff, _, _ := l.stats("failing")
	b.Logf("steady p50 %s p99 %s; muelle %d requests, %d failed, p50 %s p99 %s over %s; compose %d requests, %d failed, p50 %s p99 %s over %s; failing release: %d requests, %d failed; generator dropped %d",
		p50s, p99s, nm, fm, p50m, p99m, muelleTook.Round(time.Second), nc, fc, p50c, p99c, composeTook.Round(time.Second), nf, ff, l.dropped.Load())
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(fm), "failed-muelle")
	b.ReportMetric(float64(fc), "failed-compose")
	b.ReportMetric(float64(nm), "requests-muelle")
	b.ReportMetric(float64(nc), "requests-compose")
	b.ReportMetric(ms(p50s), "p50-steady-ms")
	b.ReportMetric(ms(p99s), "p99-steady-ms")
	b.ReportMetric(ms(p50m), "p50-muelle-ms")
	b.ReportMetric(ms(p99m), "p99-muelle-ms")
	b.ReportMetric(ms(p99c), "p99-compose-ms")
	b.ReportMetric(ms(p50c), "p50-compose-ms")
	b.ReportMetric(ms(p99d), "p99-deploys-ms")
	b.ReportMetric(ms(p99r), "p99-rollbacks-ms")
	b.ReportMetric(float64(ff), "failed-failing-release")
	if p99s > 0 {
		b.ReportMetric(float64(p99m)/float64(p99s), "p99-muelle/steady")
	}
	b.ReportMetric(median(own), "muelle-own-s/deploy")
	b.ReportMetric(median(stepTimes["workers"]), "workers-s/deploy")
	b.ReportMetric(median(deploys), "deploy-s")
	b.ReportMetric(median(rollbacks), "rollback-s")
	b.ReportMetric(median(switchBack), "switch-back-ms")
	b.ReportMetric(float64(l.dropped.Load()), "generator-dropped")
}
