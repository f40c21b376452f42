// Package config holds muelle's per-project configuration, muelle.yaml in
// the project directory: defaults are filled in one place (Defaults) and a
// separate Validate reports every problem at once. It reads files only; it
// runs nothing.
package config
