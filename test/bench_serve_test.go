//go:build docker

package test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/testutil"
	"github.com/muelle-dev/muelle/internal/webhook"
)

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(b *testing.B, url string) {
	for i := 0; ; i++ {
		if resp, err := http.Post(url, "application/json", bytes.NewReader(nil)); err == nil {
			resp.Body.Close()
			return
		}
		if i > 200 {
			b.Fatalf("%s never answered", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// blast sends n signed deliveries with c concurrent clients and returns
// deliveries per second, the p99 latency and the peak resident memory of pid.
func blast(b *testing.B, url, secret string, n, c, pid int, status int) (float64, time.Duration, int64) {
	// Each delivery is a different push (muelle refuses a body it has seen
	// as a replay), signed before the clock starts.
	round := time.Now().UnixNano()
	bodies, sigs := make([][]byte, n), make([]string, n)
	for i := range n {
		bodies[i] = []byte(`{"ref":"refs/heads/not-deployed","after":"` + fmt.Sprintf("%024x%016x", round, i) + `","repository":{"full_name":"octo-org/pinboard"},"sender":{"login":"bench"}}`)
		sigs[i] = webhook.SignGitHub([]byte(secret), bodies[i])
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	var next atomic.Int64
	var bad atomic.Int64
	lat := make([]time.Duration, n)
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if r := rssOf(pid); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", "push")
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d-%d", start.UnixNano(), i))
				req.Header.Set("X-Hub-Signature-256", sigs[i])
				t := time.Now()
				resp, err := client.Do(req)
				lat[i] = time.Since(t)
				if err != nil || resp.StatusCode != status {
					bad.Add(1)
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	if bad.Load() > 0 {
		b.Fatalf("%d of %d deliveries got an unexpected answer", bad.Load(), n)
	}
	slices.Sort(lat)
	return float64(n) / took.Seconds(), lat[n*99/100], peak.Load()
}

func rssOf(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("VmRSS:")) {
			fmt.Sscanf(string(bytes.TrimPrefix(line, []byte("VmRSS:"))), "%d", &kb)
		}
	}
	return kb * 1024
}

// BenchmarkWebhookReceivers: verified GitHub deliveries per second, p99
// latency and resident memory of muelle serve against adnanh/webhook
// (Debian's webhook 2.8.0) with an equivalent HMAC-SHA256 rule and a no-op
// command, same payload, same machine, one run.
func BenchmarkWebhookReceivers(b *testing.B) {
	testutil.RequireDocker(b) // muelle serve talks to the engine at start
	hookBin, err := exec.LookPath("webhook")
	if err != nil {
		b.Skip("adnanh/webhook is not installed (scripts/bench installs Debian's webhook package)")
	}
	secret := randomHex(b, 24)
	dir := b.TempDir()
	// muelle serve on a project that needs no running stack: the
	// deliveries push to a branch that does not deploy.
	proj := filepath.Join(dir, "proj")
	os.MkdirAll(proj, 0o755)
	muelleAddr, hookAddr := freeAddr(b), freeAddr(b)
	writeFile(b, filepath.Join(proj, "muelle.yaml"), fmt.Sprintf(`project: benchserve
state_dir: %s/state
backup:
  dir: %s/backups
deploy:
  branch: main
serve:
  listen: %s
  github:
    repository: octo-org/pinboard
    secrets: ["${GITHUB_WEBHOOK_SECRET}"]
`, dir, dir, muelleAddr))
	writeFile(b, filepath.Join(proj, ".env.production"), "POSTGRES_DB=app\nPOSTGRES_USER=app\nGITHUB_WEBHOOK_SECRET="+secret+"\n")
	writeFile(b, filepath.Join(proj, "compose.prod.yaml"), "services: {}\n")
	writeFile(b, filepath.Join(dir, "hooks.json"), fmt.Sprintf(`[{"id": "github", "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": %q, "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]`, secret))

	start := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	ms := start(muelleBin, "serve", proj)
	host, port, _ := net.SplitHostPort(hookAddr)
	wh := start(hookBin, "-hooks", filepath.Join(dir, "hooks.json"), "-ip", host, "-port", port)
	waitHTTP(b, "http://"+muelleAddr+"/hooks/github")
	waitHTTP(b, "http://"+hookAddr+"/hooks/github")
	time.Sleep(time.Second)
	idleM, idleW := rssOf(ms.Process.Pid), rssOf(wh.Process.Pid)

	const n, c = 20000, 32
	b.ResetTimer()
	// Alternate, twice each, so neither gets the warmer machine.
	var rateM, rateW []float64
	var p99M, p99W time.Duration
	var peakM, peakW int64
	for range 2 {
		r, p, pk := blast(b, "http://"+muelleAddr+"/hooks/github", secret, n, c, ms.Process.Pid, 202)
		rateM, p99M, peakM = append(rateM, r), max(p99M, p), max(peakM, pk)
		r, p, pk = blast(b, "http://"+hookAddr+"/hooks/github", secret, n, c, wh.Process.Pid, 200)
		rateW, p99W, peakW = append(rateW, r), max(p99W, p), max(peakW, pk)
	}
	b.StopTimer()
	bm, bw := slices.Max(rateM), slices.Max(rateW)
	b.ReportMetric(bm, "muelle-deliveries/s")
	b.ReportMetric(bw, "webhook-deliveries/s")
	b.ReportMetric(bm/bw, "muelle/webhook-rate")
	b.ReportMetric(float64(p99M.Microseconds())/1000, "muelle-p99-ms")
	b.ReportMetric(float64(p99W.Microseconds())/1000, "webhook-p99-ms")
	b.ReportMetric(float64(idleM)/(1<<20), "muelle-idle-MB")
	b.ReportMetric(float64(idleW)/(1<<20), "webhook-idle-MB")
	b.ReportMetric(float64(peakM)/(1<<20), "muelle-load-MB")
	b.ReportMetric(float64(peakW)/(1<<20), "webhook-load-MB")
}
