// Package atomicfile writes files so that a reader, or a crash, never sees
// half of one: write a temporary file in the same directory, fsync it, rename
// it over the target, fsync the directory.
package atomicfile
