package targets

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/types"
)

// OwnerLen is the length of an owner tag: 10 lowercase hex digits (40 bits
// of a SHA-256), short enough for load-balancer target names and long
// enough that two bindings colliding is a one-in-a-trillion event.
const OwnerLen = 10

// Owner returns the tag that marks the targets binding bindingUID of the
// cluster clusterID registers: every load-balancer target zerodrop creates
// carries it (HAProxy: in the server name), and a binding drains, removes
// or re-registers only targets carrying its own tag. Bindings of two
// clusters, or two bindings of one cluster, can share a backend without
// touching each other's targets.
func Owner(clusterID string, bindingUID types.UID) string {
	sum := sha256.Sum256([]byte(clusterID + "/" + string(bindingUID)))
	return hex.EncodeToString(sum[:])[:OwnerLen]
}

// ValidOwner reports whether s has the shape of an owner tag.
func ValidOwner(s string) bool {
	if len(s) != OwnerLen {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
