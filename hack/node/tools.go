//go:build tools

// Package node records the Kubernetes command this module builds, so that
// `go mod tidy` keeps its dependencies.
package node

import (
	_ "k8s.io/kubernetes/cmd/kubelet"
)
