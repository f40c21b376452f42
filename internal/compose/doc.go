// Package compose is muelle's boundary with the docker compose v2 CLI: it
// runs `docker compose` for one project (its directory, files, env file and
// name), with a context and a deadline, and reads what compose reports. It
// knows nothing of Django or of deploys.
package compose
