"""Command-line interfaces: `den` (run the product) and `denctl` (the kubectl-like client)."""
