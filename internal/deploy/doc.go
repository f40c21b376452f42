// Package deploy moves a project from one release to the next without
// dropping a request, and back when anything goes wrong.
//
// A deploy builds the new release's image from a git commit, backs up the
// database, runs Django's checks and the project's smoke checks in a
// one-off container, applies the migrations, starts the new web containers
// next to the old ones, waits for them to be healthy and ready, and
// switches nginx's upstream to them (a graceful reload). The old containers
// keep running through a watch window, so switching back is instant; only
// then are they stopped.
//
// Every step is journaled in the release history before it acts, so a
// muelle killed at any point leaves a record the next run finishes from:
// the old release or the new one serving, never both half-switched.
package deploy
