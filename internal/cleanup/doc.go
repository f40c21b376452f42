// Package cleanup frees disk space a deploy host loses over time: temporary
// files muelle left behind (never fresh ones, which a running command may
// still be writing), dangling images, build cache beyond a limit, and
// release images beyond those kept for rollback (never one a container
// uses). It plans first, so --dry-run shows exactly what would go.
package cleanup
