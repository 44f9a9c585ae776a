// Command pause is the sandbox ("pause") container of Capstan's real test node: it holds a pod's
// namespaces open and does nothing else. It sleeps until SIGTERM or SIGINT and, as PID 1 of the pod
// when the pod shares its PID namespace, reaps orphaned children so no zombies pile up.
// registry.k8s.io is unreachable here, so the test harness builds this into a scratch image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reapChildren()
			continue
		}
		os.Exit(0)
	}
}

// reapChildren collects every exited child without blocking.
func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
