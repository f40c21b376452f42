package baseimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/muelle-dev/muelle/internal/engine"
)

// Engine is what the builder needs from the Docker engine.
type Engine interface {
	Image(ctx context.Context, ref string) (engine.Image, error)
	Pull(ctx context.Context, ref string, out io.Writer) error
	Import(ctx context.Context, rootfs io.Reader, changes []string) (string, error)
	Tag(ctx context.Context, id, ref string) error
	Remove(ctx context.Context, ref string) error
	Build(ctx context.Context, contextTar io.Reader, opts engine.BuildOptions, out io.Writer) error
}

// Options says how to provide the images. The zero value is not useful; start
// from DefaultOptions.
type Options struct {
	// Suite is the Debian suite stand-ins are built from. Default "bookworm".
	Suite string
	// Mirror is the Debian archive. Default "http://deb.debian.org/debian".
	Mirror string
	// SecurityMirror is the Debian security archive. Default
	// "http://deb.debian.org/debian-security".
	SecurityMirror string
	// PythonPackages are extra Debian packages for the python stand-in, for
	// a project whose requirements need more than the defaults.
	PythonPackages []string
	// Pull tries the image's registry before building a stand-in. Default true.
	Pull bool
	// PullTimeout bounds one pull attempt. Default 2m.
	PullTimeout time.Duration
	// Force rebuilds stand-ins even when an up-to-date one is present. It
	// never replaces an image that came from a registry unless Pull is false.
	Force bool
}

// DefaultOptions returns the options used when a flag is not given.
func DefaultOptions() Options {
	return Options{
		Suite:          "bookworm",
		Mirror:         "http://deb.debian.org/debian",
		SecurityMirror: "http://deb.debian.org/debian-security",
		Pull:           true,
		PullTimeout:    2 * time.Minute,
	}
}

// Action says how an image was provided.
type Action string

// The ways an image can be provided.
const (
	Kept   Action = "kept"   // already present and up to date
	Pulled Action = "pulled" // fetched from its registry
	Built  Action = "built"  // stand-in built from the package mirror
)

// Result reports one image.
type Result struct {
	Spec     Spec
	Action   Action
	Duration time.Duration
}

// Builder provides the stack's images on one engine.
type Builder struct {
	engine Engine
	opts   Options
	log    *slog.Logger

	baseOnce sync.Once
	baseRef  string
	baseErr  error
}

// NewBuilder returns a builder that uses eng.
func NewBuilder(eng Engine, opts Options, log *slog.Logger) *Builder {
	return &Builder{engine: eng, opts: opts, log: log}
}

// Ensure provides every spec, building stand-ins concurrently, and returns one
// result per spec in the order given. The error joins every failure; images
// that succeeded are kept.
func (b *Builder) Ensure(ctx context.Context, specs []Spec) ([]Result, error) {
	results := make([]Result, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			action, err := b.ensure(ctx, s)
			results[i] = Result{Spec: s, Action: action, Duration: time.Since(start)}
			errs[i] = err
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

func (b *Builder) ensure(ctx context.Context, s Spec) (Action, error) {
	files, err := recipeFiles(s.Name)
	if err != nil {
		return "", err
	}
	recipe := recipeHash(files, b.baseRecipe(), strings.Join(b.extraPackages(s), " "))

	img, err := b.engine.Image(ctx, s.Ref)
	switch {
	case errors.Is(err, engine.ErrNoImage):
	case err != nil:
		return "", err
	case img.Labels[LabelStandIn] == "":
		// From a registry, or the user's own: never replaced.
		b.log.Info("image present", "image", s.Ref)
		return Kept, nil
	case img.Labels[LabelRecipe] == recipe && !b.opts.Force:
		b.log.Info("stand-in image up to date", "image", s.Ref)
		return Kept, nil
	}

	if b.opts.Pull && img.ID == "" {
		pctx, cancel := context.WithTimeout(ctx, b.opts.PullTimeout)
		err := b.engine.Pull(pctx, s.Ref, io.Discard)
		cancel()
		if err == nil {
			b.log.Info("image pulled", "image", s.Ref)
			return Pulled, nil
		}
		b.log.Info("pull failed; building a stand-in from the package mirror", "image", s.Ref, "err", err)
	}

	base, err := b.base(ctx)
	if err != nil {
		return "", err
	}
	tarball, err := contextTar(files)
	if err != nil {
		return "", err
	}
	args := map[string]*string{"BASE": &base}
	if extra := strings.Join(b.extraPackages(s), " "); extra != "" {
		args["EXTRA_PACKAGES"] = &extra
	}
	var out bytes.Buffer
	b.log.Info("building stand-in image", "image", s.Ref, "from", "debian "+b.opts.Suite)
	err = b.engine.Build(ctx, tarball, engine.BuildOptions{
		Tags:      []string{s.Ref},
		BuildArgs: args,
		Labels:    map[string]string{LabelStandIn: "debian-" + b.opts.Suite, LabelRecipe: recipe},
		NoCache:   b.opts.Force,
	}, &out)
	if err != nil {
		return "", fmt.Errorf("build stand-in %s: %w\n%s", s.Ref, err, lastLines(out.String(), 25))
	}
	return Built, nil
}

func (b *Builder) extraPackages(s Spec) []string {
	if s.Name != "python" {
		return nil
	}
	pkgs := append([]string(nil), b.opts.PythonPackages...)
	sort.Strings(pkgs)
	return pkgs
}

// BaseRef is the tag of the minimal root filesystem the stand-ins build on.
func BaseRef(suite string) string { return "muelle/debian:" + suite }

// base returns the minimal Debian image, importing it once per builder from
// an mmdebstrap root filesystem when it is missing or outdated.
func (b *Builder) base(ctx context.Context) (string, error) {
	b.baseOnce.Do(func() {
		b.baseRef, b.baseErr = b.importBase(ctx)
	})
	return b.baseRef, b.baseErr
}

func (b *Builder) sources() []string {
	s := b.opts.Suite
	return []string{
		fmt.Sprintf("deb %s %s main", b.opts.Mirror, s),
		fmt.Sprintf("deb %s %s-updates main", b.opts.Mirror, s),
		fmt.Sprintf("deb %s %s-security main", b.opts.SecurityMirror, s),
	}
}

// dockerCleanHook writes the apt configuration Debian's official images
// carry: no package cache files and no downloaded packages are kept after
// an install, so no image layer holds them.
const dockerCleanHook = `printf '%s\n' ` +
	`'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' ` +
	`'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' ` +
	`'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' ` +
	`> "$1/etc/apt/apt.conf.d/docker-clean" && rm -f "$1"/var/cache/apt/*.bin`

// mmdebstrapArgs builds a minimal root filesystem as a tarball on stdout.
// The apt and dpkg options stay in the image's configuration, so every later
// apt-get install in a stand-in, or in an app image built on one, keeps no
// package caches, documentation, manual pages or translations, as in
// Debian's official images.
func (b *Builder) mmdebstrapArgs() []string {
	args := []string{"--variant=apt", "--include=ca-certificates", "--format=tar",
		`--aptopt=Acquire::Retries "3"`,
		"--customize-hook=" + dockerCleanHook,
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright",
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		"--dpkgopt=path-exclude=/usr/share/info/*",
		b.opts.Suite, "-"}
	return append(args, b.sources()...)
}

// baseRecipe identifies the base root filesystem; it is part of every
// stand-in's recipe, so a new base rebuilds them.
func (b *Builder) baseRecipe() string {
	return recipeHash(nil, append(b.mmdebstrapArgs(), b.opts.Mirror, b.opts.SecurityMirror)...)
}

func (b *Builder) importBase(ctx context.Context) (string, error) {
	ref := BaseRef(b.opts.Suite)
	recipe := b.baseRecipe()
	img, err := b.engine.Image(ctx, ref)
	if err == nil && img.Labels[LabelRecipe] == recipe && !b.opts.Force {
		return ref, nil
	}
	if err != nil && !errors.Is(err, engine.ErrNoImage) {
		return "", err
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "", fmt.Errorf("building %s needs mmdebstrap, which is not installed: run `apt-get install mmdebstrap` (or scripts/bootstrap)", ref)
	}
	b.log.Info("creating Debian root filesystem with mmdebstrap", "suite", b.opts.Suite, "image", ref)
	args := b.mmdebstrapArgs()
	mctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(mctx, "mmdebstrap", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("mmdebstrap: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("mmdebstrap: %w", err)
	}
	changes := []string{
		"ENV LANG=C.UTF-8",
		`CMD ["bash"]`,
		fmt.Sprintf("LABEL %s=debian-%s %s=%s", LabelStandIn, b.opts.Suite, LabelRecipe, recipe),
	}
	id, importErr := b.engine.Import(ctx, stdout, changes)
	if importErr != nil {
		_, _ = io.Copy(io.Discard, stdout) // let mmdebstrap finish writing before Wait
	}
	if err := cmd.Wait(); err != nil {
		if id != "" {
			// A truncated root filesystem must never carry the base's name.
			if rmErr := b.engine.Remove(ctx, id); rmErr != nil {
				b.log.Warn("could not remove the incomplete import", "image", id, "err", rmErr)
			}
		}
		return "", fmt.Errorf("mmdebstrap %s: %w\n%s", b.opts.Suite, err, lastLines(stderr.String(), 25))
	}
	if importErr != nil {
		return "", importErr
	}
	if err := b.engine.Tag(ctx, id, ref); err != nil {
		return "", err
	}
	return ref, nil
}

// contextTar packs a build context; scripts are executable.
func contextTar(files map[string][]byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mode := int64(0o644)
		if strings.HasSuffix(n, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return &buf, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
