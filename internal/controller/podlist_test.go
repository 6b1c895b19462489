package controller

import (
	"fmt"
	"testing"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

func TestPodList_boundsTheListAndCountsAll(t *testing.T) {
	var names []string
	for i := range 25 {
		names = append(names, fmt.Sprintf("web-%02d", 24-i))
	}
	list, n := podList(names)
	if n != 25 || len(list) != v1alpha1.MaxListedPods || list[0].Name != "web-00" || list[19].Name != "web-19" {
		t.Errorf("podList = %d listed (first %v), count %d; want the first %d by name and 25", len(list), list[:1], n, v1alpha1.MaxListedPods)
	}
	if list, n := podList(nil); list != nil || n != 0 {
		t.Errorf("podList(nil) = %v, %d", list, n)
	}
}

func TestSomeOf(t *testing.T) {
	if got := someOf([]string{"a", "b"}); got != "a; b" {
		t.Errorf("someOf = %q", got)
	}
	if got := someOf([]string{"1", "2", "3", "4", "5", "6", "7"}); got != "1; 2; 3; 4; 5; and 2 more" {
		t.Errorf("someOf = %q", got)
	}
}
