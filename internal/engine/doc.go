// Package engine is muelle's boundary with the Docker engine: the only package
// that talks to the Docker daemon API. Other packages describe what they want
// (an image imported from a tarball, an image built from a context) and call
// engine; they never import the Docker client themselves.
package engine
