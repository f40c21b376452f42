// Package test holds muelle's Docker-backed tests (build tag "docker") and
// repository-wide checks. Each Docker test starts its own compose project
// against a real engine and removes it when it ends; make test runs them with
// MUELLE_REQUIRE_DOCKER=1, so a missing engine fails instead of skipping.
package test
