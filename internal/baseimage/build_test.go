package baseimage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/muelle-dev/muelle/internal/engine"
)

// memEngine is a small in-memory Docker engine: a set of images, a registry
// that may or may not answer, and a record of builds.
type memEngine struct {
	mu       sync.Mutex
	images   map[string]engine.Image
	registry map[string]bool // refs the registry can serve
	pulls    []string
	builds   []string
	imports  []string
}

func (m *memEngine) Image(_ context.Context, ref string) (engine.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	img, ok := m.images[ref]
	if !ok {
		return engine.Image{}, fmt.Errorf("%s: %w", ref, engine.ErrNoImage)
	}
	return img, nil
}

func (m *memEngine) Pull(_ context.Context, ref string, _ io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pulls = append(m.pulls, ref)
	if !m.registry[ref] {
		return errors.New("registry unreachable")
	}
	m.images[ref] = engine.Image{ID: "sha256:pulled-" + ref}
	return nil
}

func (m *memEngine) Import(_ context.Context, _ io.Reader, _ []string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := fmt.Sprintf("sha256:import-%d", len(m.imports))
	m.imports = append(m.imports, id)
	return id, nil
}

func (m *memEngine) Tag(_ context.Context, id, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.images[ref] = engine.Image{ID: id}
	return nil
}

func (m *memEngine) Remove(_ context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.images, ref)
	return nil
}

func (m *memEngine) Build(_ context.Context, contextTar io.Reader, opts engine.BuildOptions, _ io.Writer) error {
	tr := tar.NewReader(contextTar)
	hasDockerfile := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		hasDockerfile = hasDockerfile || h.Name == "Dockerfile"
	}
	if !hasDockerfile {
		return errors.New("no Dockerfile in context")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tag := range opts.Tags {
		m.builds = append(m.builds, tag)
		m.images[tag] = engine.Image{ID: "sha256:built-" + tag, Labels: opts.Labels}
	}
	return nil
}

func currentRecipe(t *testing.T, name string, opts Options) string {
	t.Helper()
	files, err := recipeFiles(name)
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{opts: opts}
	return recipeHash(files, b.baseRecipe(), strings.Join(b.extraPackages(Spec{Name: name}), " "))
}

func TestEnsureKeepsPullsOrBuilds(t *testing.T) {
	opts := DefaultOptions()
	baseRecipe := (&Builder{opts: opts}).baseRecipe()
	standIn := func(name, recipe string) engine.Image {
		return engine.Image{ID: "sha256:old-" + name, Labels: map[string]string{LabelStandIn: "debian-bookworm", LabelRecipe: recipe}}
	}
	eng := &memEngine{
		images: map[string]engine.Image{
			// The base is present and current, so no mmdebstrap is needed.
			BaseRef(opts.Suite): standIn("base", baseRecipe),
			// From a registry: kept whatever its labels.
			"python:3.11-slim": {ID: "sha256:registry-python"},
			// A current stand-in: kept.
			"postgres:15": standIn("postgres", currentRecipe(t, "postgres", opts)),
			// A stand-in from an older recipe: rebuilt, not pulled.
			"redis:7": standIn("redis", "0000000000000000"),
			// nginx:stable is missing.
		},
		registry: map[string]bool{},
	}
	b := NewBuilder(eng, opts, slog.New(slog.DiscardHandler))
	results, err := b.Ensure(context.Background(), Specs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Action{}
	for _, r := range results {
		got[r.Spec.Name] = r.Action
	}
	want := map[string]Action{"python": Kept, "postgres": Kept, "redis": Built, "nginx": Built}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %q, want %q", name, got[name], w)
		}
	}
	if strings.Join(eng.pulls, ",") != "nginx:stable" {
		t.Errorf("pulls: got %v, want only the missing nginx:stable", eng.pulls)
	}
	if len(eng.imports) != 0 {
		t.Errorf("imports: got %v, want none (the base was current)", eng.imports)
	}
	if eng.images["redis:7"].Labels[LabelRecipe] != currentRecipe(t, "redis", opts) {
		t.Errorf("rebuilt redis:7 does not carry the current recipe label")
	}

	// A second run finds everything current and does nothing.
	eng.builds, eng.pulls = nil, nil
	results, err = b.Ensure(context.Background(), Specs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Action != Kept {
			t.Errorf("second run: %s got %q, want %q", r.Spec.Name, r.Action, Kept)
		}
	}
	if len(eng.builds)+len(eng.pulls) != 0 {
		t.Errorf("second run: got builds %v pulls %v, want none", eng.builds, eng.pulls)
	}
}

func TestEnsurePrefersTheRegistry(t *testing.T) {
	eng := &memEngine{images: map[string]engine.Image{}, registry: map[string]bool{"redis:7": true}}
	specs, _ := Lookup([]string{"redis"})
	results, err := NewBuilder(eng, DefaultOptions(), slog.New(slog.DiscardHandler)).Ensure(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Action != Pulled || len(eng.builds) != 0 {
		t.Errorf("got %q with builds %v, want %q and no build", results[0].Action, eng.builds, Pulled)
	}
}

func TestPythonPackagesChangeTheRecipe(t *testing.T) {
	opts := DefaultOptions()
	plain := currentRecipe(t, "python", opts)
	opts.PythonPackages = []string{"python3-pil"}
	if currentRecipe(t, "python", opts) == plain {
		t.Error("extra python packages did not change the recipe, so the stand-in would not be rebuilt")
	}
	if currentRecipe(t, "redis", opts) != currentRecipe(t, "redis", DefaultOptions()) {
		t.Error("python packages changed the redis recipe")
	}
}

func TestLookup(t *testing.T) {
	specs, err := Lookup([]string{"postgres", "redis:7"})
	if err != nil || len(specs) != 2 || specs[0].Ref != "postgres:15" || specs[1].Name != "redis" {
		t.Errorf("got %v, %v; want postgres and redis", specs, err)
	}
	_, err = Lookup([]string{"mysql", "python", "mongo"})
	if err == nil || !strings.Contains(err.Error(), "mysql, mongo") || !strings.Contains(err.Error(), "python, postgres, redis, nginx") {
		t.Errorf("got %v, want an error naming mysql and mongo and listing the choices", err)
	}
}

func TestContextTarMakesScriptsExecutable(t *testing.T) {
	files, err := recipeFiles("postgres")
	if err != nil {
		t.Fatal(err)
	}
	r, err := contextTar(files)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	modes := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		modes[h.Name] = h.Mode
	}
	if modes["docker-entrypoint.sh"] != 0o755 || modes["Dockerfile"] != 0o644 {
		t.Errorf("got modes %v, want entrypoint 0o755 (493) and Dockerfile 0o644 (420)", modes)
	}
}
