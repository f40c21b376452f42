// Package scaffold writes the production setup of a Django project: the
// Dockerfile, compose files, nginx configuration, Django production
// settings, the example environment file and a self-signed certificate. It
// renders from what package django detected, never overwrites a file unless
// forced (and then shows the diff), and never touches the project's own
// files. It runs nothing.
package scaffold
