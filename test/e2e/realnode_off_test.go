//go:build !realnode

package e2e

// enterRealNodeNetwork does nothing without the realnode build tag: the
// tests run on virtual nodes, in this machine's network namespace.
func enterRealNodeNetwork() (code int, done bool) { return 0, false }
