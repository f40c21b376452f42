// Package envfile holds the production environment file: the variables the
// generated stack reads (one list, from which the example file is written and
// against which a real file is checked), reading such a file the way docker
// compose does, and checking it. It never prints or returns a value of a
// variable, only names and problems.
package envfile
