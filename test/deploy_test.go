//go:build docker

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// deployStack is the example app's stack, its project a git repository,
// with state, backups and a notification receiver of the test's own.
type deployStack struct {
	*stack
	state, backups string
	hooks          *hookReceiver
}

type hookReceiver struct {
	mu     sync.Mutex
	events []map[string]any
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var e map[string]any
	if json.NewDecoder(r.Body).Decode(&e) == nil {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	}
}

func (h *hookReceiver) last() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

func newDeployStack(t testing.TB) *deployStack {
	t.Helper()
	s := &deployStack{stack: newStack(t), hooks: &hookReceiver{}}
	tmp := t.TempDir()
	s.state, s.backups = filepath.Join(tmp, "state"), filepath.Join(tmp, "backups")
	hook := httptest.NewServer(s.hooks)
	t.Cleanup(hook.Close)
	writeFile(t, filepath.Join(s.dir, "muelle.yaml"), fmt.Sprintf(`project: %s
state_dir: %s
backup:
  dir: %s
deploy:
  watch: 3s
  drain: 1s
  health_timeout: 25s
  workers: [worker]
notify:
  webhook: ["%s/hook"]
`, s.proj.Name, s.state, s.backups, hook.URL))
	writeFile(t, filepath.Join(s.dir, ".gitignore"), ".env.production\n")
	// A worker service on the app's image, as a Celery worker would be.
	composeFile := filepath.Join(s.dir, "compose.prod.yaml")
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	worker := `services:
  worker:
    <<: *web
    command: ["python", "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(1e9)"]
    depends_on:
      db:
        condition: service_healthy
    healthcheck: # the image's own asks gunicorn, which a worker does not run
      test: ["CMD", "python", "-c", "import os; os.kill(1, 0)"]
      interval: 5s
    restart: unless-stopped
`
	writeFile(t, composeFile, strings.Replace(string(data), "services:\n", worker, 1))
	s.git("init", "-q", "-b", "main")
	s.commit("release A")
	s.up()
	return s
}

func (s *deployStack) git(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", s.dir, "-c", "user.name=Test", "-c", "user.email=test@example.com"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit commits everything and returns the release id.
func (s *deployStack) commit(msg string) string {
	s.t.Helper()
	s.git("add", "-A")
	s.git("commit", "-q", "--allow-empty", "-m", msg)
	return s.git("rev-parse", "HEAD")[:12]
}

func (s *deployStack) edit(path, old, new string) {
	s.t.Helper()
	p := filepath.Join(s.dir, path)
	data, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		s.t.Fatalf("%s does not contain %q", path, old)
	}
	writeFile(s.t, p, strings.Replace(string(data), old, new, 1))
}

// branch commits a change on a branch off main and returns to main, so
// main stays the last good release.
func (s *deployStack) branch(name string, change func()) string {
	s.t.Helper()
	s.git("checkout", "-q", "-b", name, "main")
	change()
	id := s.commit(name)
	s.git("checkout", "-q", "main")
	return id
}

// serving asks the site which release answers.
func (s *deployStack) serving() string {
	s.t.Helper()
	_, body := s.get("/api/pins/")
	var v struct{ Release string }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		s.t.Fatalf("GET /api/pins/: %v: %s", err, body)
	}
	return v.Release
}

func (s *deployStack) migrations() []string {
	s.t.Helper()
	out := s.exec(context.Background(), "db", "sh", "-c", `psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "SELECT app||'.'||name FROM django_migrations ORDER BY id"`)
	return strings.Fields(out)
}

func (s *deployStack) pinIDs() map[int]bool {
	s.t.Helper()
	out := s.exec(context.Background(), "db", "sh", "-c", `psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "SELECT id FROM board_pin"`)
	ids := map[int]bool{}
	for _, f := range strings.Fields(out) {
		n, _ := strconv.Atoi(f)
		ids[n] = true
	}
	return ids
}

// traffic is a writer inserting pins through the app and a reader
// requesting through nginx, both counting what failed.
type traffic struct {
	mu                      sync.Mutex
	acked                   []int
	reads, readFails, maint int
	writes, writeFails      int
	failures                []string
	stop                    chan struct{}
	done                    sync.WaitGroup
}

func (s *deployStack) startTraffic() *traffic {
	tr := &traffic{stop: make(chan struct{})}
	client := s.httpsClient()
	client.Timeout = 10 * time.Second
	loop := func(every time.Duration, f func(i int)) {
		tr.done.Add(1)
		go func() {
			defer tr.done.Done()
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				case <-time.After(every):
				}
				f(i)
			}
		}()
	}
	record := func(what string, resp *http.Response, err error) (ok, maintenance bool) {
		if err == nil && resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "" {
			return false, true // nginx's maintenance page
		}
		if err != nil || resp.StatusCode >= 400 {
			msg := fmt.Sprint(err)
			if resp != nil {
				msg = resp.Status
			}
			tr.failures = append(tr.failures, time.Now().Format("15:04:05.000")+" "+what+": "+msg)
			return false, false
		}
		return true, false
	}
	loop(250*time.Millisecond, func(i int) { // writer, 4/s
		resp, err := client.PostForm("https://localhost/api/pins/", url.Values{"title": {fmt.Sprintf("w-%d", i)}})
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.writes++
		ok, maint := record("write", resp, err)
		if ok {
			var pin struct{ ID int }
			if json.NewDecoder(resp.Body).Decode(&pin) == nil && pin.ID > 0 {
				tr.acked = append(tr.acked, pin.ID)
			}
		} else if maint {
			tr.maint++
		} else {
			tr.writeFails++
		}
		if resp != nil {
			resp.Body.Close()
		}
	})
	loop(125*time.Millisecond, func(int) { // reader, 8/s
		resp, err := client.Get("https://localhost/api/pins/")
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.reads++
		ok, maint := record("read", resp, err)
		if !ok && maint {
			tr.maint++
		} else if !ok {
			tr.readFails++
		}
		if resp != nil {
			resp.Body.Close()
		}
	})
	return tr
}

// snapshot returns the counts and resets them.
func (tr *traffic) snapshot() (reads, readFails, writes, writeFails, maint int, failures []string, acked []int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	reads, readFails, writes, writeFails, maint, failures, acked = tr.reads, tr.readFails, tr.writes, tr.writeFails, tr.maint, tr.failures, tr.acked
	tr.reads, tr.readFails, tr.writes, tr.writeFails, tr.maint, tr.failures = 0, 0, 0, 0, 0, nil
	return
}

func (tr *traffic) halt() {
	close(tr.stop)
	tr.done.Wait()
}

// checkTraffic asserts that no request failed since the last check and
// that every acknowledged write is in the database.
func (s *deployStack) checkTraffic(t *testing.T, tr *traffic) {
	t.Helper()
	reads, readFails, writes, writeFails, maint, failures, acked := tr.snapshot()
	t.Logf("traffic: %d reads (%d failed), %d writes (%d failed), %d maintenance answers", reads, readFails, writes, writeFails, maint)
	if readFails+writeFails > 0 {
		t.Errorf("%d requests failed:\n%s", readFails+writeFails, strings.Join(failures, "\n"))
	}
	if reads == 0 || writes == 0 {
		t.Errorf("no traffic ran (%d reads, %d writes)", reads, writes)
	}
	have := s.pinIDs()
	var lost []int
	for _, id := range acked {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes are not in the database: %v", len(lost), lost)
	}
}

// deployFails runs a deploy that must fail and returns its output.
func (s *deployStack) deployFails(t *testing.T, ref, want string) string {
	t.Helper()
	out, err := muelleErr(t, "deploy", s.dir, "--ref", ref)
	if err == nil {
		t.Fatalf("deploy of %s succeeded; want a failure:\n%s", ref, out)
	}
	if !strings.Contains(out, want) {
		t.Errorf("deploy of %s: want %q in the output:\n%s", ref, want, out)
	}
	return out
}

func (s *deployStack) releases(t testing.TB) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.state, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Releases []map[string]any }
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h.Releases
}

// TestDeploy deploys and rolls back the example app under constant load:
// the happy path, then every fault the deploy issue lists, each ending with
// the last good release serving, no failed request, and no acknowledged
// write lost.
func TestDeploy(t *testing.T) {
	s := newDeployStack(t)
	initial := s.serving()
	tr := s.startTraffic()
	defer tr.halt()

	var good string
	t.Run("happy path", func(t *testing.T) {
		writeFile(t, filepath.Join(s.dir, "board/migrations/0003_pin_note.py"), `from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("board", "0002_default_board")]
    operations = [migrations.AddField("pin", "note", models.CharField(max_length=200, blank=True, null=True))]
`)
		s.edit("board/models.py", "    body = models.TextField(blank=True)\n", "    body = models.TextField(blank=True)\n    note = models.CharField(max_length=200, blank=True, null=True)\n")
		good = s.commit("release B: pin notes")
		out := muelle(t, "deploy", s.dir)
		if !strings.Contains(out, "release "+good+" is live") {
			t.Fatalf("deploy output:\n%s", out)
		}
		if got := s.serving(); got != good {
			t.Fatalf("serving %s after the deploy, want %s", got, good)
		}
		if !slices.Contains(s.migrations(), "board.0003_pin_note") {
			t.Errorf("migration 0003 not applied: %v", s.migrations())
		}
		images, _ := runCmd(context.Background(), "docker", "image", "ls", "--format", "{{.Tag}}", s.proj.Name+"-web")
		for _, want := range []string{good, initial} {
			if !strings.Contains(images, want) {
				t.Errorf("image %s-web:%s not kept; images: %s", s.proj.Name, want, images)
			}
		}
		list := muelle(t, "releases", s.dir)
		if !strings.Contains(list, initial) || !strings.Contains(list, good+"  deploy     live") {
			t.Errorf("muelle releases:\n%s", list)
		}
		worker, _ := runCmd(context.Background(), "docker", "ps", "--filter", "label=com.docker.compose.project="+s.proj.Name, "--filter", "label=com.docker.compose.service=worker", "--format", "{{.Image}}")
		if strings.TrimSpace(worker) != s.proj.Name+"-web:"+good {
			t.Errorf("the worker runs %q after the deploy, want the new release's image", worker)
		}
		if e := s.hooks.last(); e == nil || e["event"] != "success" || e["release"] != good {
			t.Errorf("success notification: got %v", e)
		}
		s.checkTraffic(t, tr)
	})
	if t.Failed() {
		t.FailNow()
	}

	// Each fault leaves good serving with its migrations.
	goodMigrations := s.migrations()
	afterFault := func(t *testing.T, ref string) {
		t.Helper()
		if got := s.serving(); got != good {
			t.Errorf("serving %s, want %s", got, good)
		}
		if got := s.migrations(); !slices.Equal(got, goodMigrations) {
			t.Errorf("migrations after the failed deploy:\n got %v\nwant %v", got, goodMigrations)
		}
		web, _ := runCmd(context.Background(), "docker", "ps", "--filter", "label=com.docker.compose.project="+s.proj.Name, "--filter", "label=com.docker.compose.service=web", "--format", "{{.Image}}")
		if strings.TrimSpace(web) != s.proj.Name+"-web:"+good {
			t.Errorf("web containers after the failed deploy: %q, want only %s", web, good)
		}
		if e := s.hooks.last(); e == nil || e["event"] != "failure" || e["release"] != ref || e["serving"] != good {
			t.Errorf("failure notification: got %v, want a failure of %s with %s serving", e, ref, good)
		}
		s.checkTraffic(t, tr)
	}

	var badBuild string
	t.Run("image fails to build", func(t *testing.T) {
		ref := s.branch("bad-build", func() {
			s.edit("Dockerfile", "COPY . /app", "RUN echo broken release >&2 && exit 3\nCOPY . /app")
		})
		badBuild = ref
		out := s.deployFails(t, ref, "failed at build")
		if !strings.Contains(out, "broken release") {
			t.Errorf("the build's own error is not shown:\n%s", out)
		}
		afterFault(t, ref)
	})

	t.Run("app crashes on start", func(t *testing.T) {
		ref := s.branch("crash", func() {
			s.edit("pinboard/wsgi.py", "application = get_wsgi_application()", "raise RuntimeError('release crashes at start')")
		})
		out := s.deployFails(t, ref, "failed at start")
		if !strings.Contains(out, "release crashes at start") {
			t.Errorf("the app's error is not shown:\n%s", out)
		}
		afterFault(t, ref)
	})

	t.Run("readiness answers 500", func(t *testing.T) {
		ref := s.branch("not-ready", func() {
			s.edit("muelle_settings/health.py", "status=200 if ok else 503", "status=500")
		})
		s.deployFails(t, ref, "not ready")
		afterFault(t, ref)
	})

	t.Run("migration fails half-way", func(t *testing.T) {
		ref := s.branch("bad-migration", func() {
			writeFile(t, filepath.Join(s.dir, "board/migrations/0004_pin_rank.py"), `from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("board", "0003_pin_note")]
    operations = [migrations.AddField("pin", "rank", models.IntegerField(null=True))]
`)
			writeFile(t, filepath.Join(s.dir, "board/migrations/0005_broken.py"), `from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("board", "0004_pin_rank")]
    operations = [migrations.RunSQL("SELECT 1/0", reverse_sql="")]
`)
		})
		out := s.deployFails(t, ref, "failed at migrate")
		if !strings.Contains(out, "division by zero") || !strings.Contains(out, "migrations reversed: board.0004_pin_rank") {
			t.Errorf("want the migration's error and 0004 reversed:\n%s", out)
		}
		afterFault(t, ref)
	})

	t.Run("migration applied, then the app fails", func(t *testing.T) {
		ref := s.branch("migrated-then-crash", func() {
			writeFile(t, filepath.Join(s.dir, "board/migrations/0004_pin_rank.py"), `from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("board", "0003_pin_note")]
    operations = [migrations.AddField("pin", "rank", models.IntegerField(null=True))]
`)
			s.edit("pinboard/wsgi.py", "application = get_wsgi_application()", "raise RuntimeError('release crashes at start')")
		})
		out := s.deployFails(t, ref, "migrations reversed: board.0004_pin_rank")
		_ = out
		afterFault(t, ref)
	})

	t.Run("migration applied, switched, then fails in the watch window", func(t *testing.T) {
		// Healthy to Docker and to muelle's direct probe; only readiness
		// through nginx (which sets X-Real-IP) fails, after the switch.
		ref := s.branch("fails-after-switch", func() {
			writeFile(t, filepath.Join(s.dir, "board/migrations/0004_pin_rank.py"), `from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("board", "0003_pin_note")]
    operations = [migrations.AddField("pin", "rank", models.IntegerField(null=True))]
`)
			s.edit("muelle_settings/health.py", "        if kind == \"readyz\":\n", "        if kind == \"readyz\" and request.META.get(\"HTTP_X_REAL_IP\"):\n            return JsonResponse({\"status\": \"broken\"}, status=503)\n        if kind == \"readyz\":\n")
		})
		out := s.deployFails(t, ref, "failed at watch")
		for _, want := range []string{"traffic switched back to " + good, "migrations reversed: board.0004_pin_rank"} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in the output:\n%s", want, out)
			}
		}
		afterFault(t, ref)
	})

	t.Run("irreversible migration, then the app fails: backup restored, loss reported", func(t *testing.T) {
		ref := s.branch("irreversible", func() {
			writeFile(t, filepath.Join(s.dir, "board/migrations/0004_titles.py"), `from django.db import migrations


def shout(apps, schema_editor):
    apps.get_model("board", "Pin").objects.filter(title__startswith="w-").update(body="shouted")


class Migration(migrations.Migration):
    dependencies = [("board", "0003_pin_note")]
    operations = [migrations.RunPython(shout)]
`)
			s.edit("pinboard/wsgi.py", "application = get_wsgi_application()", "raise RuntimeError('release crashes at start')")
		})
		out := s.deployFails(t, ref, "restored the pre-deploy backup")
		if !strings.Contains(out, "irreversible migration: board.0004_titles") {
			t.Errorf("the irreversible migration is not named:\n%s", out)
		}
		// Writes acknowledged between the backup and the restore are lost,
		// and exactly those are reported.
		_, readFails, _, writeFails, maint, failures, acked := tr.snapshot()
		have := s.pinIDs()
		lost := 0
		for _, id := range acked {
			if !have[id] {
				lost++
			}
		}
		// The report counts rows, from the backups; the writer's one request
		// in flight when maintenance began may have committed without its
		// answer arriving, so the report may count one more.
		reported := 0
		if m := regexp.MustCompile(`public\.board_pin \+(\d+)`).FindStringSubmatch(out); m != nil {
			reported, _ = strconv.Atoi(m[1])
		}
		if lost == 0 {
			t.Errorf("no acknowledged write was lost: the writer did not write between the backup and the restore, so the loss report is untested")
		}
		if reported < lost || reported > lost+1 {
			t.Errorf("%d acknowledged writes were lost; the report says %d:\n%s", lost, reported, out)
		}
		if e := s.hooks.last(); e == nil || !strings.Contains(fmt.Sprint(e["data_loss"]), "writes since the backup are lost") || !strings.Contains(fmt.Sprint(e["data_loss"]), "public.board_pin +") {
			t.Errorf("the notification does not report the loss: %v", e)
		}
		t.Logf("restore: %d acknowledged writes lost (reported), %d maintenance answers, %d+%d failed: %v", lost, maint, readFails, writeFails, failures)
		if readFails+writeFails > 0 {
			t.Errorf("requests failed other than with the maintenance page: %v", failures)
		}
		tr.mu.Lock()
		tr.acked = nil // the lost ones are accounted for
		tr.mu.Unlock()
		// The load goes on after the restore.
		resumed := time.Now()
		for {
			tr.mu.Lock()
			reads := tr.reads
			tr.mu.Unlock()
			if reads >= 10 || time.Since(resumed) > 30*time.Second {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("after the restore, 10 reads took %s", time.Since(resumed).Round(100*time.Millisecond))
		afterFault(t, ref)
	})

	t.Run("database down at the pre-deploy backup", func(t *testing.T) {
		ref := s.branch("db-down", func() { s.edit("board/views.py", "\n", "\n# db-down\n") })
		tr.mu.Lock() // the app cannot work without its database: pause the load
		s.proj.MustCompose(context.Background(), "stop", "db")
		out := s.deployFails(t, ref, "pre-deploy backup (nothing was changed)")
		s.proj.MustCompose(context.Background(), "start", "db")
		tr.mu.Unlock()
		_ = out
		waitHealthy(t, s.stack)
		time.Sleep(2 * time.Second)
		tr.snapshot() // requests while the database was down do not count
		time.Sleep(2 * time.Second)
		afterFault(t, ref)
	})

	for _, phase := range []string{"migrate", "switch"} {
		t.Run("muelle killed during "+phase, func(t *testing.T) {
			ref := s.branch("killed-"+phase, func() {
				writeFile(t, filepath.Join(s.dir, "board/migrations/0004_slow.py"), `import time

from django.db import migrations, models


def slow(apps, schema_editor):
    time.sleep(`+map[string]string{"migrate": "30", "switch": "0"}[phase]+`)


class Migration(migrations.Migration):
    dependencies = [("board", "0003_pin_note")]
    operations = [
        migrations.AddField("pin", "rank", models.IntegerField(null=True)),
        migrations.RunPython(slow, migrations.RunPython.noop),
    ]
`)
			})
			cmd := exec.Command(muelleBin, "deploy", s.dir, "--ref", ref)
			cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitPhase(t, s, phase)
			if phase == "migrate" {
				time.Sleep(3 * time.Second) // inside the migration
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			// The next deploy finishes the interrupted one first. It is
			// one whose build fails, so what is checked below is what the
			// recovery alone left.
			out := s.deployFails(t, badBuild, "failed at build")
			if !strings.Contains(out, "finishing an interrupted run") || !strings.Contains(out, "interrupted run undone") {
				t.Errorf("the next deploy did not recover:\n%s", out)
			}
			web, _ := runCmd(context.Background(), "docker", "ps", "--filter", "label=com.docker.compose.project="+s.proj.Name, "--filter", "label=com.docker.compose.service=web", "--format", "{{.Image}}")
			if strings.TrimSpace(web) != s.proj.Name+"-web:"+good {
				t.Errorf("web containers after recovery: %q, want only %s", web, good)
			}
			if up, _ := os.ReadFile(filepath.Join(s.dir, "deploy/nginx/upstream.conf")); !strings.Contains(string(up), "server web:8000;") || strings.Count(string(up), "server ") != 1 {
				t.Errorf("nginx's upstream after recovery is not the web service alone:\n%s", up)
			}
			if _, err := os.Stat(filepath.Join(s.dir, "deploy/nginx/maintenance.on")); err == nil {
				t.Errorf("the maintenance page is on after recovery")
			}
			var killed map[string]any
			for _, r := range s.releases(t) {
				if r["id"] == ref {
					killed = r
				}
			}
			if killed == nil || killed["status"] == "running" || killed["status"] == "live" {
				t.Errorf("the killed deploy is recorded as %v", killed)
			}
			if got := s.serving(); got != good {
				t.Errorf("serving %s, want %s", got, good)
			}
			if got := s.migrations(); !slices.Equal(got, goodMigrations) {
				t.Errorf("migrations after recovery:\n got %v\nwant %v", got, goodMigrations)
			}
			s.checkTraffic(t, tr)
		})
	}

	t.Run("rollback on demand", func(t *testing.T) {
		out := muelle(t, "rollback", "--dir", s.dir)
		if !strings.Contains(out, "release "+initial+" is live again") || !strings.Contains(out, "migrations reversed: board.0003_pin_note") {
			t.Fatalf("rollback output:\n%s", out)
		}
		if got := s.serving(); got != initial {
			t.Errorf("serving %s after the rollback, want %s", got, initial)
		}
		if slices.Contains(s.migrations(), "board.0003_pin_note") {
			t.Errorf("0003 still applied after the rollback")
		}
		worker, _ := runCmd(context.Background(), "docker", "ps", "--filter", "label=com.docker.compose.project="+s.proj.Name, "--filter", "label=com.docker.compose.service=worker", "--format", "{{.Image}}")
		if strings.TrimSpace(worker) != s.proj.Name+"-web:"+initial {
			t.Errorf("the worker runs %q after the rollback, want %s", worker, initial)
		}
		if e := s.hooks.last(); e == nil || e["event"] != "rollback" {
			t.Errorf("rollback notification: got %v", e)
		}
		s.checkTraffic(t, tr)
	})
}

// waitPhase waits until the running deploy's journal reaches phase.
func waitPhase(t *testing.T, s *deployStack, phase string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(filepath.Join(s.state, "releases.json"))
		var h struct {
			Releases []struct{ Status, Phase string }
		}
		if json.Unmarshal(data, &h) == nil {
			for _, r := range h.Releases {
				if r.Status == "running" && (r.Phase == phase || phase == "switch" && r.Phase == "watch") {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the deploy never reached phase %s", phase)
}
