//go:build tools

// Package cluster records the Kubernetes and etcd commands this module builds,
// so that `go mod tidy` keeps their dependencies.
package cluster

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
