// Package podapp is the demo's app as a real process, for the local
// cluster's real nodes (kubelet and containerd): the same behaviour the
// virtual node's in-process app has (appspec.Spec: start-up delay, latency,
// health path, immediate or graceful shutdown on SIGTERM), read from the
// pod's app annotations through downward-API environment variables, and
// every lifecycle step written to standard output as one JSON line with its
// time, which the cluster reads back from the container's log (the virtual
// node records the same steps itself). The same binary is the pause process
// of the real nodes' pod sandboxes and a `sleep` for exec hooks, so one
// image serves all three: the image has no shell and no libc.
package podapp
