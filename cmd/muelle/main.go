// Command muelle takes a Django project to production on a Docker host and
// keeps it there.
package main

import (
	"os"

	"github.com/muelle-dev/muelle/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
