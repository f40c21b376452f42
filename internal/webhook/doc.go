// Package webhook receives push notifications from GitHub, GitLab and
// Gitea/Forgejo, proves they come from the forge (a shared secret), and
// turns the ones that name the configured repository and branch into
// deploy requests for a coalescing queue: while a deploy runs, newer
// requests replace older ones, so a burst of pushes ends with exactly one
// more deploy, of the newest commit.
package webhook
