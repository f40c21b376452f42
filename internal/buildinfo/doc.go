// Package buildinfo holds the version and commit muelle was built from. The
// Makefile sets them with -ldflags; a plain `go build` reports "dev" and, when
// Go recorded it, the VCS revision. It holds data only and does no I/O.
package buildinfo
