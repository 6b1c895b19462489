package vnode

import (
	"errors"
	"fmt"
	"net/netip"
)

// FirstNodeOctet is the second octet of node 0's pod range: node i hands out
// 127.(FirstNodeOctet+i).x.y.
const FirstNodeOctet = 100

// maxNodeIndex keeps node ranges inside 127.0.0.0/8.
const maxNodeIndex = 255 - FirstNodeOctet

// NodeIP returns the address of virtual node index: 127.(100+index).0.1.
func NodeIP(index int) (netip.Addr, error) {
	if index < 0 || index > maxNodeIndex {
		return netip.Addr{}, fmt.Errorf("node index %d outside [0, %d]", index, maxNodeIndex)
	}
	return netip.AddrFrom4([4]byte{127, byte(FirstNodeOctet + index), 0, 1}), nil
}

// ipPool hands out pod addresses of one node: 127.(100+index).x.y with
// x.y from 0.2 to 255.254, next-fit, so an address freed is reused as late
// as possible, and never while a pod holding it still exists.
type ipPool struct {
	prefix byte // second octet
	next   uint16
	inUse  map[netip.Addr]struct{}
}

// errPoolExhausted is returned when every address of a node is in use.
var errPoolExhausted = errors.New("every pod address of the node is in use")

func newIPPool(index int) (*ipPool, error) {
	if _, err := NodeIP(index); err != nil {
		return nil, err
	}
	return &ipPool{prefix: byte(FirstNodeOctet + index), next: 2, inUse: map[netip.Addr]struct{}{}}, nil
}

func (p *ipPool) addr(n uint16) netip.Addr {
	return netip.AddrFrom4([4]byte{127, p.prefix, byte(n >> 8), byte(n)})
}

// valid reports whether n encodes a usable pod address: not x.y.0.0/x.y.0.1
// (network and node address) and no .0 or .255 last octet.
func valid(n uint16) bool { return n >= 2 && byte(n) != 0 && byte(n) != 255 }

// allocate returns a free address and marks it used.
func (p *ipPool) allocate() (netip.Addr, error) {
	for range 1 << 16 {
		n := p.next
		p.next++
		if !valid(n) {
			continue
		}
		a := p.addr(n)
		if _, used := p.inUse[a]; used {
			continue
		}
		p.inUse[a] = struct{}{}
		return a, nil
	}
	return netip.Addr{}, errPoolExhausted
}

// release frees a.
func (p *ipPool) release(a netip.Addr) { delete(p.inUse, a) }
