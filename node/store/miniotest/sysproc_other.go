//go:build !linux

package miniotest

import "os/exec"

func setSysProcAttr(*exec.Cmd) {}
