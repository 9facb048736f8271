//go:build tools

// Package tools is never compiled. It makes `go mod tidy` record every module (and go.sum
// line) that scripts/kind needs to build kubeadm from the Go module proxy, with the same
// staging-module replacements as ../../k8s (see its README).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
