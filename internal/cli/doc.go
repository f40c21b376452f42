// Package cli wires muelle's commands to cobra. Each command is an options
// struct, a constructor that only declares flags, and a run function holding
// the logic, which tests call directly. Exit codes are decided here and only
// here.
package cli
