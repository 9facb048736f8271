// Command etcd is upstream etcd's own server/main.go, in a wrapper module.
//
// Why a wrapper: `go install go.etcd.io/etcd/server/v3@v3.5.x` fails because
// etcd's server go.mod has replace directives (../api, ../client/...). As a
// dependency those replaces are ignored and its requires point at published
// v3.5.x tags, so this builds from the Go module proxy alone. It is a separate
// module from tools/k8s so that MVS does not mix etcd's grpc/otel versions
// with Kubernetes' ones.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
