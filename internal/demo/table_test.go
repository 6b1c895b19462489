package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	verifyreport "github.com/zerodrop/zerodrop/internal/verify/report"
)

func TestWriteTable_OneRowPerKindWithEveryMode(t *testing.T) {
	rep := &verifyreport.Report{}
	res := &Result{Kinds: []KindResult{{Kind: RollingUpdate, Modes: []ModeResult{
		{Mode: ModeNone, Report: rep, Sent: 10000, Failed: 25, Rollout: 9400 * time.Millisecond},
		{Mode: ModeStatic, Report: rep, Sent: 10000, Failed: 0, Rollout: 13800 * time.Millisecond},
		{Mode: ModeZerodrop, Report: rep, Sent: 10001, Failed: 0, Rollout: 10900 * time.Millisecond},
	}}}}
	var b bytes.Buffer
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("table:\n%s\nwant a header and one row", b.String())
	}
	for _, want := range []string{"rolling-update", "25/10000", "9.4s", "0/10000", "13.8s", "0/10001", "10.9s"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
}

func TestDistribute_NearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 20; i++ {
		ds = append(ds, time.Duration(i)*time.Second)
	}
	d := Distribute(ds)
	if d.N != 20 || d.Median != 10*time.Second || d.P95 != 19*time.Second {
		t.Errorf("Distribute = %+v, want N 20, median 10s, p95 19s", d)
	}
	if (Distribute(nil) != Distribution{}) {
		t.Errorf("Distribute(nil) is not zero")
	}
}

func TestPickDrainNode_PrefersANodeWithEveryMode(t *testing.T) {
	got := pickDrainNode(map[string]map[Mode]int{
		"vnode-0": {ModeNone: 2, ModeStatic: 2},
		"vnode-1": {ModeNone: 1, ModeStatic: 1, ModeZerodrop: 1},
		"vnode-2": {ModeZerodrop: 1},
	})
	if got != "vnode-1" {
		t.Errorf("picked %s, want vnode-1 (the only node with a pod of every mode)", got)
	}
}
