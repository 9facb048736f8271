#!/usr/bin/env bash
# Regenerates go.mod/go.sum of this wrapper module for one Kubernetes release.
#
#   tools/k8s/gen.sh 1.33.13
#
# Why: `go install k8s.io/kubernetes/cmd/...@v1.33.x` cannot work, because
# k8s.io/kubernetes requires its ~31 "staging" modules at the fake version
# v0.0.0 and maps them to ./staging/src with replace directives, which are
# ignored when it is a dependency. Each release v1.X.Y is also published as
# v0.X.Y of every staging module, so we replace each one with that tag. The list
# changes between releases, so it is read from the upstream go.mod, never typed.
set -euo pipefail
KV=${1:?usage: gen.sh 1.33.N}
SV="v0.${KV#1.}"
cd "$(dirname "$0")"
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local GOFLAGS=-mod=mod
UPSTREAM_GOMOD=$(cd / && go mod download -json "k8s.io/kubernetes@v${KV}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
rm -f go.mod go.sum
go mod init innovation-den.invalid/testbed/k8s
go mod edit -go=1.24.0
# A dependency's `godebug` line has no effect: copy upstream's so the runtime
# GODEBUG defaults match the official release binaries.
gd=$(sed -n 's/^godebug \(default=.*\)$/\1/p' "$UPSTREAM_GOMOD" | head -1)
[ -n "$gd" ] && go mod edit -godebug="$gd"
for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/src/.*|\1|p' "$UPSTREAM_GOMOD"); do
  go mod edit -replace="${m}=${m}@${SV}"
done
go mod edit -require="k8s.io/kubernetes@v${KV}"
go mod tidy
