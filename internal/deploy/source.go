package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Source is the git repository a project's releases come from: the
// project directory's own repository.
type Source struct {
	// Dir is the project directory (the repository or a directory in it).
	Dir string
	// Remote is fetched before a ref is resolved, when the repository has it.
	Remote string
	// Branch is the default ref; empty means the checked-out branch.
	Branch string
}

// Commit is a resolved release.
type Commit struct {
	Hash    string
	Ref     string
	Subject string
}

// ID is the release id: the commit's first 12 hex digits.
func (c Commit) ID() string { return c.Hash[:12] }

func (s Source) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", s.Dir}, args...)...)
	// Cancelled (a deadline): SIGTERM, so that git removes its lock files
	// (a SIGKILLed fetch can leave refs locked for every later one).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(string(out)), nil
}

// fetchMu serialises this process's fetches: muelle serve orders pushed
// commits (which may fetch) while a deploy resolves its ref (which
// fetches), and two git fetches into one repository at once can fail to
// lock a ref.
var fetchSem = make(chan struct{}, 1)

// fetch fetches the remote. A fetch that failed on a lock (another
// process's fetch) is tried once more after a second.
func (s Source) fetch(ctx context.Context, args ...string) error {
	select {
	case fetchSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-fetchSem }()
	args = append([]string{"fetch", "--quiet"}, args...)
	_, err := s.git(ctx, append(args, s.Remote)...)
	if err != nil && strings.Contains(err.Error(), "lock") {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
		_, err = s.git(ctx, append(args, s.Remote)...)
	}
	return err
}

// Resolve fetches the remote (when the repository has it) and resolves
// ref (default: the configured branch, else the checked-out branch) to a
// commit. A branch resolves to the remote's copy when there is one.
func (s Source) Resolve(ctx context.Context, ref string) (Commit, error) {
	if _, err := s.git(ctx, "rev-parse", "--is-inside-work-tree"); err != nil {
		return Commit{}, fmt.Errorf("%s is not in a git repository: muelle deploys commits (git init, commit the project including the files muelle init wrote, then deploy)", s.Dir)
	}
	if ref == "" {
		ref = s.Branch
	}
	if ref == "" {
		if b, err := s.git(ctx, "symbolic-ref", "--short", "-q", "HEAD"); err == nil && b != "" {
			ref = b
		} else {
			ref = "HEAD"
		}
	}
	candidates := []string{ref}
	if s.Remote != "" {
		if remotes, err := s.git(ctx, "remote"); err == nil && containsLine(remotes, s.Remote) {
			if err := s.fetch(ctx, "--prune"); err != nil {
				return Commit{}, fmt.Errorf("fetch %s: %w", s.Remote, err)
			}
			candidates = []string{s.Remote + "/" + ref, ref}
		}
	}
	for _, c := range candidates {
		hash, err := s.git(ctx, "rev-parse", "--verify", "--quiet", c+"^{commit}")
		if err != nil || hash == "" {
			continue
		}
		subject, _ := s.git(ctx, "log", "-1", "--format=%s", hash)
		return Commit{Hash: hash, Ref: ref, Subject: subject}, nil
	}
	return Commit{}, fmt.Errorf("ref %q names no commit in %s (is it pushed and fetched?)", ref, s.Dir)
}

func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// Archive streams the project directory as of commit as a tar, without the
// paths .dockerignore excludes: the build context of the release. Nothing
// uncommitted (the env file, local media) can reach the image.
func (s Source) Archive(ctx context.Context, commit string) (io.ReadCloser, error) {
	prefix, err := s.git(ctx, "rev-parse", "--show-prefix")
	if err != nil {
		return nil, err
	}
	tree := commit + ":" + strings.TrimSuffix(prefix, "/")
	var matcher *patternmatcher.PatternMatcher
	if data, err := s.git(ctx, "show", tree+"/.dockerignore"); err == nil {
		patterns, err := ignorefile.ReadAll(strings.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
		if matcher, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "git", "-C", s.Dir, "archive", "--format=tar", strings.TrimSuffix(tree, ":"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		err := filterTar(raw, pw, matcher)
		io.Copy(io.Discard, raw)
		if werr := cmd.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("git archive %s: %v: %s", tree, werr, strings.TrimSpace(stderr.String()))
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// filterTar copies a tar, leaving out entries the matcher excludes.
// .dockerignore and Dockerfile are always kept, as docker build does.
func filterTar(in io.Reader, out io.Writer, m *patternmatcher.PatternMatcher) error {
	tr := tar.NewReader(in)
	tw := tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue // git's commit-id comment
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if m != nil && name != ".dockerignore" && name != "Dockerfile" {
			skip, err := m.MatchesOrParentMatches(name)
			if err != nil {
				return err
			}
			if skip {
				continue
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// Tracked reports whether git tracks path (relative to the project directory).
func (s Source) Tracked(ctx context.Context, path string) bool {
	_, err := s.git(ctx, "ls-files", "--error-unmatch", "--", path)
	return err == nil
}

// CurrentBranch is the branch checked out in the project directory.
func (s Source) CurrentBranch(ctx context.Context) (string, error) {
	b, err := s.git(ctx, "symbolic-ref", "--short", "-q", "HEAD")
	if err != nil || b == "" {
		return "", fmt.Errorf("%s has no branch checked out", s.Dir)
	}
	return b, nil
}

// IsAncestor reports whether commit a is an ancestor of commit b. When
// either is unknown here, it fetches the remote once and asks again; an
// error means git still cannot tell.
func (s Source) IsAncestor(ctx context.Context, a, b string) (bool, error) {
	ask := func() (bool, error) {
		cmd := exec.CommandContext(ctx, "git", "-C", s.Dir, "merge-base", "--is-ancestor", a, b)
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			return false, nil
		}
		return false, fmt.Errorf("git merge-base %s %s: %w", a, b, err)
	}
	ok, err := ask()
	if err != nil && s.Remote != "" {
		if ferr := s.fetch(ctx); ferr == nil {
			ok, err = ask()
		}
	}
	return ok, err
}
