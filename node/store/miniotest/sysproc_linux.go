package miniotest

import (
	"os/exec"
	"syscall"
)

// setSysProcAttr makes the kernel kill MinIO if the test binary dies (a test
// timeout panic, kill -9), so no server outlives its test run.
func setSysProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
