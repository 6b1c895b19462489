// Package localcluster starts a local Kubernetes control plane made of the
// real components (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, built from the Kubernetes modules into bin/) plus virtual
// nodes (package vnode) that stand in for kubelet. Every component listens on
// 127.0.0.1 only, and every pod gets its own 127.x.y.z address on which the
// virtual node runs the pod's app as a real HTTP server.
//
// It is the foundation of `zerodrop cluster up`, `zerodrop demo` and the e2e
// tests. See docs/virtual-node.md for every place a virtual node differs from
// kubelet.
package localcluster
