package baseimage

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed images
var recipes embed.FS

// Spec is one image the generated stack uses.
type Spec struct {
	// Name is the short name used on the command line.
	Name string
	// Ref is the image reference the generated stack names.
	Ref string
	// Summary says what the stand-in is built from.
	Summary string
}

// Specs lists the stack's images, in the order they are built.
var Specs = []Spec{
	{Name: "python", Ref: "python:3.11-slim", Summary: "Debian's python3 (3.11), pip, venv, Django, gunicorn, psycopg2, redis, django-redis"},
	{Name: "postgres", Ref: "postgres:15", Summary: "Debian's postgresql-15 with the official image's POSTGRES_* contract"},
	{Name: "redis", Ref: "redis:7", Summary: "Debian's redis-server 7.0 with the official image's entrypoint behaviour"},
	{Name: "nginx", Ref: "nginx:stable", Summary: "Debian's nginx 1.22 with the official image's conf.d layout"},
}

// Labels muelle puts on the images it builds.
const (
	// LabelStandIn marks an image as built by muelle from a package mirror;
	// its value names the distribution.
	LabelStandIn = "dev.muelle.stand-in"
	// LabelRecipe holds the hash of what the image was built from, so a
	// changed recipe rebuilds a stand-in and an unchanged one is kept.
	LabelRecipe = "dev.muelle.recipe"
)

// Lookup returns the specs with the given names, all of them when names is
// empty, or an error naming every unknown name.
func Lookup(names []string) ([]Spec, error) {
	if len(names) == 0 {
		return Specs, nil
	}
	var out []Spec
	var unknown []string
	for _, n := range names {
		found := false
		for _, s := range Specs {
			if s.Name == n || s.Ref == n {
				out = append(out, s)
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown image %s: choose from %s", strings.Join(unknown, ", "), strings.Join(specNames(Specs), ", "))
	}
	return out, nil
}

func specNames(specs []Spec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

// recipeFiles returns the files of a spec's build context, by name.
func recipeFiles(name string) (map[string][]byte, error) {
	dir := "images/" + name
	entries, err := fs.ReadDir(recipes, dir)
	if err != nil {
		return nil, fmt.Errorf("recipe %s: %w", name, err)
	}
	files := make(map[string][]byte, len(entries))
	for _, e := range entries {
		b, err := recipes.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("recipe %s: %w", name, err)
		}
		files[e.Name()] = b
	}
	return files, nil
}

// recipeHash identifies the inputs of a build: files and parameters.
func recipeHash(files map[string][]byte, params ...string) string {
	h := sha256.New()
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(files[k]))
		h.Write(files[k])
	}
	for _, p := range params {
		fmt.Fprintf(h, "%s\x00", p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
