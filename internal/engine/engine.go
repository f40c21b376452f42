package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
)

// ErrUnreachable means no Docker engine answered.
var ErrUnreachable = errors.New("the Docker engine is not reachable")

// Client talks to one Docker engine.
type Client struct {
	api *client.Client
}

// New connects to the engine named by the usual DOCKER_HOST environment (the
// local socket by default) and checks that it answers. The API version is
// negotiated, so both old engines (Debian's 20.10) and new ones work.
func New(ctx context.Context) (*Client, error) {
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := api.Ping(ctx); err != nil {
		_ = api.Close() // the ping error is the one worth reporting
		return nil, fmt.Errorf("%w at %s: %v (start it, for example with scripts/bootstrap or `systemctl start docker`)", ErrUnreachable, api.DaemonHost(), err)
	}
	api.NegotiateAPIVersion(ctx)
	return &Client{api: api}, nil
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.api.Close() }

// Image is what muelle needs to know about a local image.
type Image struct {
	ID     string
	Labels map[string]string
	Size   int64
}

// ErrNoImage is returned by Image when the reference is not present locally.
var ErrNoImage = errors.New("image not present")

// Image inspects a local image.
func (c *Client) Image(ctx context.Context, ref string) (Image, error) {
	info, err := c.api.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return Image{}, fmt.Errorf("%s: %w", ref, ErrNoImage)
	}
	if err != nil {
		return Image{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	img := Image{ID: info.ID, Size: info.Size}
	if info.Config != nil {
		img.Labels = info.Config.Labels
	}
	return img, nil
}

// Pull fetches ref from its registry, writing progress to out.
func (c *Client) Pull(ctx context.Context, ref string, out io.Writer) error {
	rc, err := c.api.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(rc, out, 0, false, nil); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// Import creates an untagged image from a root filesystem tarball and
// returns its ID. changes are Dockerfile instructions applied to the image
// (CMD, ENV, LABEL, ...). Tag it once the tarball is known to be whole.
func (c *Client) Import(ctx context.Context, rootfs io.Reader, changes []string) (string, error) {
	rc, err := c.api.ImageImport(ctx, image.ImportSource{Source: rootfs, SourceName: "-"}, "", image.ImportOptions{Changes: changes})
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	defer rc.Close()
	var id string
	dec := json.NewDecoder(rc)
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("import: %w", err)
		}
		if msg.Error != nil {
			return "", fmt.Errorf("import: %w", msg.Error)
		}
		if strings.HasPrefix(msg.Status, "sha256:") {
			id = strings.TrimSpace(msg.Status)
		}
	}
	if id == "" {
		return "", errors.New("import: the engine reported no image ID")
	}
	return id, nil
}

// Tag names an image.
func (c *Client) Tag(ctx context.Context, id, ref string) error {
	if err := c.api.ImageTag(ctx, id, ref); err != nil {
		return fmt.Errorf("tag %s: %w", ref, err)
	}
	return nil
}

// Remove deletes an image by ID or reference.
func (c *Client) Remove(ctx context.Context, ref string) error {
	if _, err := c.api.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

// BuildOptions says what to build from a context.
type BuildOptions struct {
	// Tags are the names given to the image.
	Tags []string
	// Labels are added to the image.
	Labels map[string]string
	// BuildArgs are Dockerfile ARG values.
	BuildArgs map[string]*string
	// NoCache ignores the build cache.
	NoCache bool
	// Dockerfile is the Dockerfile's path in the context. Default "Dockerfile".
	Dockerfile string
}

// Build builds the Dockerfile at the root of the context tarball, writing the
// build's output to out.
func (c *Client) Build(ctx context.Context, contextTar io.Reader, opts BuildOptions, out io.Writer) error {
	resp, err := c.api.ImageBuild(ctx, contextTar, build.ImageBuildOptions{
		Tags:        opts.Tags,
		Labels:      opts.Labels,
		BuildArgs:   opts.BuildArgs,
		NoCache:     opts.NoCache,
		Dockerfile:  cmp.Or(opts.Dockerfile, "Dockerfile"),
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build %v: %w", opts.Tags, err)
	}
	defer resp.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, out, 0, false, nil); err != nil {
		return fmt.Errorf("build %v: %w", opts.Tags, err)
	}
	return nil
}

// VolumeMountpoint returns where a volume's data lives on the host.
func (c *Client) VolumeMountpoint(ctx context.Context, name string) (string, error) {
	v, err := c.api.VolumeInspect(ctx, name)
	if err != nil {
		return "", fmt.Errorf("inspect volume %s: %w", name, err)
	}
	return v.Mountpoint, nil
}

// ImageSummary is a local image as a listing shows it.
type ImageSummary struct {
	ID      string
	Tags    []string
	Created time.Time
	Size    int64
}

// Images lists local images; reference filters by name (e.g. "shop-web"),
// dangling lists only untagged ones.
func (c *Client) Images(ctx context.Context, reference string, dangling bool) ([]ImageSummary, error) {
	f := filters.NewArgs()
	if reference != "" {
		f.Add("reference", reference)
	}
	if dangling {
		f.Add("dangling", "true")
	}
	list, err := c.api.ImageList(ctx, image.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]ImageSummary, 0, len(list))
	for _, s := range list {
		out = append(out, ImageSummary{ID: s.ID, Tags: s.RepoTags, Created: time.Unix(s.Created, 0), Size: s.Size})
	}
	return out, nil
}

// ImagesInUse returns the IDs of images that containers (running or not) use.
func (c *Client) ImagesInUse(ctx context.Context) (map[string]bool, error) {
	cs, err := c.api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	used := map[string]bool{}
	for _, ct := range cs {
		used[ct.ImageID] = true
	}
	return used, nil
}

// PruneDanglingImages removes untagged images no container uses and
// returns the bytes freed.
func (c *Client) PruneDanglingImages(ctx context.Context) (int64, error) {
	rep, err := c.api.ImagesPrune(ctx, filters.NewArgs(filters.Arg("dangling", "true")))
	if err != nil {
		return 0, fmt.Errorf("prune dangling images: %w", err)
	}
	return int64(rep.SpaceReclaimed), nil
}

// BuildCacheSize returns the build cache's total size.
func (c *Client) BuildCacheSize(ctx context.Context) (int64, error) {
	du, err := c.api.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.BuildCacheObject}})
	if err != nil {
		return 0, fmt.Errorf("build cache size: %w", err)
	}
	var n int64
	for _, r := range du.BuildCache {
		if !r.Shared {
			n += r.Size
		}
	}
	return n, nil
}

// PruneBuildCache shrinks the build cache to at most keep bytes and returns
// the bytes freed.
func (c *Client) PruneBuildCache(ctx context.Context, keep int64) (int64, error) {
	rep, err := c.api.BuildCachePrune(ctx, build.CachePruneOptions{KeepStorage: keep, MaxUsedSpace: keep})
	if err != nil {
		return 0, fmt.Errorf("prune build cache: %w", err)
	}
	return int64(rep.SpaceReclaimed), nil
}
