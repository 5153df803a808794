//go:build unix && !linux

package main

import "syscall"

// childProcAttr puts the operator in a process group of its own, so that this program decides
// when it stops.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// removeLeftovers does nothing where there is no /proc to find them: an earlier run killed with
// SIGKILL may have left etcd and kube-apiserver running, to be stopped by hand.
func removeLeftovers(string) {}
