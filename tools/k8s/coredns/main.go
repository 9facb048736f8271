// Command coredns is CoreDNS with only the plugins a cluster DNS needs: the test
// cluster's, and kubeadm's default Corefile in kind (its `prometheus` is the metrics
// plugin). Upstream's coredns.go imports core/plugin, which pulls in every
// plugin, including the AWS/Azure/GCP SDKs: a much longer build for nothing.
//
// The order in which plugins run is upstream's dnsserver.Directives list,
// which is left untouched; plugins not imported here are simply unavailable.
package main

import (
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
