package deploy

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
)

func TestReversals(t *testing.T) {
	before := []string{"contenttypes.0001_initial", "auth.0001_initial", "board.0001_initial", "board.0002_default_board", "shop.0001_initial"}
	after := append(slices.Clone(before), "board.0003_pin_note", "board.0004_rank", "tags.0001_initial")
	got := reversals(before, after)
	want := []reversal{{"tags", "zero"}, {"board", "0002_default_board"}}
	if !slices.Equal(got, want) {
		t.Fatalf("reversals = %v, want %v", got, want)
	}
	if got := reversals(after, after); len(got) != 0 {
		t.Fatalf("nothing new: got %v", got)
	}
}

// Output of Django 3.2's `manage.py migrate board 0002 --plan`, backwards.
const planOutput = `Planned operations:
board.0004_titles
    Raw Python operation -> IRREVERSIBLE
board.0003_pin_note
    Undo Add field note to pin
`

func TestIrreversibleIn(t *testing.T) {
	if got := irreversibleIn(planOutput); !slices.Equal(got, []string{"board.0004_titles"}) {
		t.Fatalf("irreversibleIn = %v", got)
	}
	if got := irreversibleIn("Planned operations:\nboard.0003_pin_note\n    Undo Add field note to pin\n"); len(got) != 0 {
		t.Fatalf("reversible plan reported irreversible: %v", got)
	}
}

func TestUpstreamConf(t *testing.T) {
	s := &Stack{NginxDir: t.TempDir()}
	for _, names := range [][]string{{"app-web-3", "app-web-4"}, nil} {
		if err := writeFile(s.upstreamFile(), upstreamConf(names)); err != nil {
			t.Fatal(err)
		}
		want := names
		if want == nil {
			want = []string{"web"}
		}
		if got := s.upstreamNames(); !slices.Equal(got, want) {
			t.Fatalf("upstreamNames = %v, want %v", got, want)
		}
	}
}

func TestLock(t *testing.T) {
	s := &State{Dir: t.TempDir(), Project: "p"}
	l, err := s.TryLock("deploy")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.TryLock("rollback")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "deploy by pid") {
		t.Fatalf("second lock: %v, want ErrLocked naming the holder", err)
	}
	l.Unlock()
	l2, err := s.TryLock("rollback")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
}

// TestLockHelper is not a test: TestLockReleasedWhenHolderDies runs the
// test binary as a separate process that takes the lock and waits.
func TestLockHelper(t *testing.T) {
	dir := os.Getenv("MUELLE_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := (&State{Dir: dir}).TryLock("helper"); err != nil {
		os.Exit(3)
	}
	os.WriteFile(filepath.Join(dir, "locked"), nil, 0o600)
	time.Sleep(time.Minute)
}

// A process killed (SIGKILL) while holding the lock does not leave it stuck.
func TestLockReleasedWhenHolderDies(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$")
	cmd.Env = append(os.Environ(), "MUELLE_LOCK_HELPER_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, "locked")); err == nil {
			break
		}
		if i > 1000 {
			t.Fatal("the helper never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := &State{Dir: dir}
	if _, err := s.TryLock("deploy"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "helper by pid") {
		t.Fatalf("while the helper holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := s.TryLock("deploy")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Unlock()
}

func TestFilterTar(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, name := range []string{"manage.py", ".env.production", "media/a.jpg", "app/views.py", "Dockerfile", ".git/config", "app/notes.md"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
	}
	tw.Close()
	m, err := patternmatcher.New([]string{".env*", "media", ".git", "**/*.md", "Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := filterTar(&in, &out, m); err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
	}
	want := []string{"manage.py", "app/views.py", "Dockerfile"}
	if !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

func TestHistoryFind(t *testing.T) {
	h := &History{Releases: []Release{
		{Seq: 1, ID: "initial", Status: StatusSuperseded},
		{Seq: 2, ID: "0123456789ab", Commit: "0123456789abcdef0123456789abcdef01234567", Status: StatusSuperseded},
		{Seq: 3, ID: "fedcba987654", Status: StatusLive},
	}}
	if r := h.Find("0123456"); r == nil || r.Seq != 2 {
		t.Fatalf("Find by prefix: %v", r)
	}
	if r := h.Find("012"); r != nil {
		t.Fatalf("a 3-character prefix matched %v; want at least 4", r)
	}
	if r := h.Live(); r == nil || r.Seq != 3 {
		t.Fatalf("Live: %v", r)
	}
}

// A failed undo stays unfinished (the next run retries it), a release
// waiting for the operator blocks, and resolving it lets deploys run.
func TestUnfinishedBlockedResolve(t *testing.T) {
	st := &State{Dir: t.TempDir(), Project: "p"}
	h := &History{Version: historyVersion, Project: "p", Releases: []Release{
		{Seq: 1, ID: "aaaaaaaaaaaa", Status: StatusLive},
		{Seq: 2, ID: "bbbbbbbbbbbb", Status: StatusUndoFailed, Phase: PhaseWatch, OldContainers: []string{"c1"}},
	}}
	if r := h.Unfinished(); r == nil || r.Seq != 2 {
		t.Fatalf("Unfinished = %v, want the release whose undo failed", r)
	}
	h.Releases[1].Status = StatusOperator
	if h.Unfinished() != nil || h.Blocked() == nil {
		t.Fatalf("needs-operator: Unfinished %v, Blocked %v", h.Unfinished(), h.Blocked())
	}
	if err := st.save(h); err != nil {
		t.Fatal(err)
	}
	d := &Deployer{State: st, Stack: &Stack{NginxDir: t.TempDir()}, Log: slog.New(slog.DiscardHandler)}
	if _, err := d.Resolve(t.Context(), "aaaaaaaaaaaa", "test"); err == nil || !strings.Contains(err.Error(), "nothing to resolve") {
		t.Fatalf("resolving a live release: %v", err)
	}
	r, err := d.Resolve(t.Context(), "bbbbbbbb", "test")
	if err != nil {
		t.Fatal(err)
	}
	h, err = st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Releases[1]; got.Status != StatusFailed || got.OldContainers != nil || !strings.Contains(got.Recovery, "resolved by hand (test, was needs-operator)") || r.ID != got.ID {
		t.Fatalf("after resolve: %+v", got)
	}
	if h.Blocked() != nil || h.Unfinished() != nil {
		t.Fatal("still blocked after resolve")
	}
}
