// Package baseimage makes sure the images a generated stack runs on (python,
// postgres, redis, nginx) exist on the Docker host. An image that is present
// is kept; a missing one is pulled from its registry; where no registry can be
// reached, a stand-in is built from the distribution's package mirror
// (mmdebstrap for a root filesystem, then a small Dockerfile per image) and
// tagged with the name the stack uses, so generated files need no change.
// It talks to Docker only through the engine package.
package baseimage
