package envfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

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
	values, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: line %d cannot be parsed (check its quotes and that it reads NAME=value)", path, errorLine(data))
	}
	if bytes.Contains(data, []byte{0}) {
		return nil, fmt.Errorf("%s: contains a NUL byte; is it a text file?", path)
	}
	return &File{Path: path, Mode: info.Mode().Perm(), Values: values}, nil
}

// parse reads data as compose reads an env_file. Variables in values are
// expanded from the file itself only, as compose does for env_file, never
// from muelle's own environment.
func parse(data []byte) (map[string]string, error) {
	return dotenv.UnmarshalBytesWithLookup(data, func(string) (string, bool) { return "", false })
}

// errorLine returns the line on which the statement that does not parse
// starts. dotenv's own line numbers cannot be used: it reports an
// unterminated quote on the file's last line, and an expansion error on
// none. The statement starts right after the longest run of leading lines
// that parses.
func errorLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := len(lines) - 1; k > 0; k-- {
		if _, err := parse(bytes.Join(lines[:k], nil)); err == nil {
			return k + 1
		}
	}
	return 1
}
