package cleanup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/muelle-dev/muelle/internal/engine"
)

// Engine is what cleanup needs from Docker.
type Engine interface {
	Images(ctx context.Context, reference string, dangling bool) ([]engine.ImageSummary, error)
	ImagesInUse(ctx context.Context) (map[string]bool, error)
	Remove(ctx context.Context, ref string) error
	PruneDanglingImages(ctx context.Context) (int64, error)
	BuildCacheSize(ctx context.Context) (int64, error)
	PruneBuildCache(ctx context.Context, keep int64) (int64, error)
}

// Options say what to keep.
type Options struct {
	// TempDirs are searched (not recursively, except db/) for muelle's
	// temporary files.
	TempDirs []string
	// MinAge protects temporary files younger than this. Default 1h.
	MinAge time.Duration
	// ReleaseImages is the repository of the app's release images,
	// e.g. "shop-web".
	ReleaseImages string
	// KeepImages is how many release images to keep. Default 3.
	KeepImages int
	// BuildCacheLimit is the build cache size to keep, in bytes.
	BuildCacheLimit int64
}

// Item is one thing cleanup removes.
type Item struct {
	Kind string // temp, dangling-images, build-cache, release-image
	What string
	Size int64
	id   string
}

// tempPatterns are the names of muelle's temporary files and directories.
var tempPatterns = []string{".*.tmp-*", ".*.partial-*", ".offsite-*", ".muelle-restore-*", "muelle-verify-*"}

// Plan lists what Apply would remove.
func Plan(ctx context.Context, eng Engine, o Options, now time.Time) ([]Item, error) {
	if o.MinAge == 0 {
		o.MinAge = time.Hour
	}
	var items []Item
	for _, dir := range o.TempDirs {
		for _, sub := range []string{dir, filepath.Join(dir, "db")} {
			for _, pat := range tempPatterns {
				matches, _ := filepath.Glob(filepath.Join(sub, pat))
				for _, m := range matches {
					info, err := os.Lstat(m)
					if err != nil || now.Sub(info.ModTime()) < o.MinAge {
						continue
					}
					items = append(items, Item{Kind: "temp", What: m, Size: treeSize(m)})
				}
			}
		}
	}
	dangling, err := eng.Images(ctx, "", true)
	if err != nil {
		return nil, err
	}
	if len(dangling) > 0 {
		var n int64
		for _, d := range dangling {
			n += d.Size
		}
		items = append(items, Item{Kind: "dangling-images", What: fmt.Sprintf("%d untagged images no container uses", len(dangling)), Size: n})
	}
	if cache, err := eng.BuildCacheSize(ctx); err != nil {
		return nil, err
	} else if cache > o.BuildCacheLimit {
		items = append(items, Item{Kind: "build-cache", What: "build cache above the limit", Size: cache - o.BuildCacheLimit})
	}
	if o.ReleaseImages != "" {
		old, err := oldReleases(ctx, eng, o)
		if err != nil {
			return nil, err
		}
		items = append(items, old...)
	}
	return items, nil
}

func oldReleases(ctx context.Context, eng Engine, o Options) ([]Item, error) {
	if o.KeepImages <= 0 {
		o.KeepImages = 3
	}
	imgs, err := eng.Images(ctx, o.ReleaseImages, false)
	if err != nil {
		return nil, err
	}
	used, err := eng.ImagesInUse(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created.After(imgs[j].Created) })
	var items []Item
	for i, img := range imgs {
		if i < o.KeepImages || used[img.ID] {
			continue
		}
		for _, tag := range img.Tags {
			if strings.HasPrefix(tag, o.ReleaseImages+":") {
				items = append(items, Item{Kind: "release-image", What: tag, Size: img.Size, id: tag})
			}
		}
	}
	return items, nil
}

// Apply removes the planned items and returns the bytes freed.
func Apply(ctx context.Context, eng Engine, items []Item, o Options) (int64, error) {
	var freed int64
	var errs []error
	for _, it := range items {
		switch it.Kind {
		case "temp":
			if err := os.RemoveAll(it.What); err != nil {
				errs = append(errs, err)
				continue
			}
			freed += it.Size
		case "dangling-images":
			n, err := eng.PruneDanglingImages(ctx)
			if err != nil {
				errs = append(errs, err)
			}
			freed += n
		case "build-cache":
			n, err := eng.PruneBuildCache(ctx, o.BuildCacheLimit)
			if err != nil {
				errs = append(errs, err)
			}
			freed += n
		case "release-image":
			if err := eng.Remove(ctx, it.id); err != nil {
				errs = append(errs, err)
				continue
			}
			freed += it.Size
		}
	}
	return freed, errors.Join(errs...)
}

func treeSize(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
