// Command probe is the testbed's tiny all-purpose test image (no shell, no
// busybox: it is built from source like everything else in the testbed).
//
//	probe serve [ADDR]         HTTP server (default :8080); answers "ok <hostname>\n"
//	probe get URL [TIMEOUT]    GET URL, print the body; exit 1 on any failure
//	probe lookup NAME [SERVER] resolve NAME (via SERVER host:port if given, e.g.
//	                           10.96.0.10:53), print the addresses; exit 1 on failure
//	probe sleep                block forever (a pod to `kubectl exec` into)
//
// `kubectl exec POD -- /probe get http://svc.ns.svc.cluster.local` is how tests
// check Service DNS and NetworkPolicy from inside the cluster.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe serve [ADDR] | get URL [TIMEOUT] | lookup NAME [SERVER] | sleep")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		addr := ":8080"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		host, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "ok %s\n", host)
		})
		srv := &http.Server{Addr: addr}
		go func() {
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			<-sigs
			srv.Close()
		}()
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "get":
		timeout := 5 * time.Second
		if len(os.Args) > 3 {
			if d, err := time.ParseDuration(os.Args[3]); err == nil {
				timeout = d
			}
		}
		c := &http.Client{Timeout: timeout}
		resp, err := c.Get(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		io.Copy(os.Stdout, resp.Body)
		if resp.StatusCode >= 400 {
			fmt.Fprintln(os.Stderr, resp.Status)
			os.Exit(1)
		}
	case "lookup":
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r := net.DefaultResolver
		if len(os.Args) > 3 {
			server := os.Args[3]
			r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, server)
			}}
		}
		addrs, err := r.LookupHost(ctx, os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, a := range addrs {
			fmt.Println(a)
		}
	case "sleep":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
