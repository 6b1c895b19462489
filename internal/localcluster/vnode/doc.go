// Package vnode is a virtual node agent: it stands in for kubelet on one
// virtual node of a local cluster. It registers a Node, heartbeats through a
// Lease, and for every pod bound to the node assigns an address in
// 127.(100+index).0.0/16, runs the pod's app as a real HTTP server on that
// address and each containerPort, runs probes, keeps the pod conditions as
// kubelet does (readiness gates included) and terminates pods as kubelet
// does: preStop, then SIGTERM, SIGKILL at the grace deadline, then removal of
// the object.
//
// The app is configured through pod annotations (AnnotationStartupDelay and
// friends). Every difference from kubelet is listed in docs/virtual-node.md.
package vnode
