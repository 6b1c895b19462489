package vnode

import (
	"net/netip"
	"testing"
)

func TestIPPool_allocate(t *testing.T) {
	p, err := newIPPool(3)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := p.allocate()
	second, _ := p.allocate()
	if first != netip.MustParseAddr("127.103.0.2") || second != netip.MustParseAddr("127.103.0.3") {
		t.Fatalf("first addresses %s, %s", first, second)
	}
	p.release(first)
	third, _ := p.allocate()
	if third == first {
		t.Errorf("a freed address was reused at once (next-fit expected)")
	}
	seen := map[netip.Addr]bool{first: true, second: true, third: true}
	p.release(first)
	for range 70000 {
		a, err := p.allocate()
		if err != nil {
			break
		}
		if seen[a] && a != first {
			t.Fatalf("address %s handed out twice while in use", a)
		}
		seen[a] = true
		b := a.As4()
		if b[0] != 127 || b[1] != 103 || b[3] == 0 || b[3] == 255 {
			t.Fatalf("address %s outside the node range or a .0/.255", a)
		}
	}
	if _, err := p.allocate(); err == nil {
		t.Errorf("allocate succeeded with every address in use")
	}
}

func TestNodeIP(t *testing.T) {
	if a, err := NodeIP(0); err != nil || a != netip.MustParseAddr("127.100.0.1") {
		t.Errorf("NodeIP(0) = %s, %v", a, err)
	}
	if _, err := NodeIP(156); err == nil {
		t.Errorf("NodeIP(156) outside 127.0.0.0/8 accepted")
	}
}
