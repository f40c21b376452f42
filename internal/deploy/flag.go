package deploy

import (
	"errors"
	"io/fs"
	"os"

	"github.com/muelle-dev/muelle/internal/atomicfile"
)

func writeFlag(path string) error {
	return atomicfile.Write(path, []byte("on\n"), 0o644)
}

func removeFlag(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func writeFile(path string, data []byte) error { return atomicfile.Write(path, data, 0o644) }
