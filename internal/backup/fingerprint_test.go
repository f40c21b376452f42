package backup

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Any edit changes the fingerprint, even one that keeps the size and puts
// the modification time back, because the change time moves.
func TestTreeFingerprint(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "a.txt")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := treeFingerprint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := treeFingerprint(dir); again != first {
		t.Fatal("fingerprint of an unchanged tree changed")
	}
	info, _ := os.Stat(file)
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(file, []byte("HELLO"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if edited, _ := treeFingerprint(dir); edited == first {
		t.Error("same-size edit with the old mtime put back: fingerprint unchanged")
	}
	now, _ := treeFingerprint(dir)
	if err := os.WriteFile(filepath.Join(dir, "b.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if added, _ := treeFingerprint(dir); added == now {
		t.Error("a new empty file did not change the fingerprint")
	}
}
