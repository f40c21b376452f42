// Package backup takes, lists, restores and verifies backups of a project's
// database and media files, and keeps their catalogue. Database dumps are
// pg_dump custom-format files made with the database container's own tools;
// media files go into a restic repository, so backups of an unchanged tree
// store almost nothing. It reaches containers through the compose package
// and the Docker engine through the engine package; it never shells out to
// docker itself.
package backup
