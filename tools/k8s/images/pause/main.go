// Command pause is the testbed's pod sandbox ("infra") container: it only holds
// the pod's namespaces open. Written here because no registry can be reached
// for registry.k8s.io/pause. Like upstream's pause.c it waits for SIGINT or
// SIGTERM and exits 0, and reaps zombies, since it is PID 1 of the pod when
// the pod shares its process namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (innovation-den testbed)\n")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
