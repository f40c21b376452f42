// Package testutil holds helpers for muelle's tests only: finding the
// repository, requiring a Docker engine (a skip that becomes a failure when
// MUELLE_REQUIRE_DOCKER=1), and compose projects that clean up after
// themselves and print their containers' logs when a test fails. Production
// code must not import it.
package testutil
