package envfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// DefaultName is the production environment file's name.
const DefaultName = ".env.production"

// File is a parsed environment file.
type File struct {
	Path string
	// Mode is the file's permission bits.
	Mode fs.FileMode
	// Values by name. Never print them.
	Values map[string]string
}

// ErrNotFound means the file does not exist.
var ErrNotFound = errors.New("environment file not found")

var lineRe = regexp.MustCompile(`^line \d+`)

// Read parses path as docker compose reads an env_file. A syntax error
// names the line, never its content, since the line may hold a secret.
func Read(path string) (*File, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: copy .env.production.example to %s and fill it in", path, ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// Variables in values are expanded from the file itself only, as compose
	// does for env_file, never from muelle's own environment.
	values, err := dotenv.UnmarshalBytesWithLookup(data, func(string) (string, bool) { return "", false })
	if err != nil {
		where := "a line"
		if m := lineRe.FindString(err.Error()); m != "" {
			where = m
		}
		return nil, fmt.Errorf("%s: %s cannot be parsed (check its quotes and that it reads NAME=value)", path, where)
	}
	if bytes.Contains(data, []byte{0}) {
		return nil, fmt.Errorf("%s: contains a NUL byte; is it a text file?", path)
	}
	return &File{Path: path, Mode: info.Mode().Perm(), Values: values}, nil
}
