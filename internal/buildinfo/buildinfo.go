package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/muelle-dev/muelle/internal/buildinfo.Version=...
var (
	Version = "dev"
	Commit  = ""
)

// Info describes the running binary.
type Info struct {
	Version   string
	Commit    string
	GoVersion string
}

// Read returns the build information, falling back to what the Go toolchain
// recorded when the linker flags were not set.
func Read() Info {
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if info.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					info.Commit = s.Value
				}
			}
		}
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}
