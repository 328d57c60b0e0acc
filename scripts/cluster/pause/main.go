// Command pause is the sandbox process of every pod on the local test cluster: PID 1 of the
// pod's namespaces, it reaps orphans and exits 0 on SIGINT or SIGTERM. It is a static binary
// so its image holds nothing else (no registry here to pull registry.k8s.io/pause from).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		// Reap every child that has exited; WNOHANG so a live child does not block us.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
