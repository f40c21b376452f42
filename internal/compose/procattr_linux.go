package compose

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a compose process when muelle dies:
// a `compose up` left running after a SIGKILLed deploy would go on
// creating containers while the next run recovers.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
