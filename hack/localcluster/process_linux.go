package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childProcAttr puts the operator in a process group of its own and has the kernel send it
// SIGTERM if this program dies (even by SIGKILL), so it never outlives the control plane.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// removeLeftovers kills the etcd and kube-apiserver of an earlier run on dir that could not
// stop them (this program was killed with SIGKILL, say). They are found by their command lines,
// which name their data and certificate directories under dir. The caller holds dir's lock, so
// they cannot belong to a run that is still alive.
func removeLeftovers(dir string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	marker := []byte(dir + string(filepath.Separator))
	var killed []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, marker) {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if name := filepath.Base(argv0); name == "etcd" || name == "kube-apiserver" {
			logf("killing %s (pid %d) left over from an earlier run", name, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed = append(killed, pid)
		}
	}
	// Wait until they are gone, so that their ports and files are free.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		alive := killed[:0]
		for _, pid := range killed {
			if running(pid) {
				alive = append(alive, pid)
			}
		}
		if killed = alive; len(killed) == 0 {
			return
		}
	}
	logf("processes %v did not stop", killed)
}

// running reports whether pid exists and is not a zombie waiting for its parent to reap it.
func running(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
