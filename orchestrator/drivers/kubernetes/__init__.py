"""The Kubernetes runtime: a namespace per trial, restricted pods, default-deny networking."""
