package localcluster

import (
	"encoding/json"
	"testing"

	"github.com/zerodrop/zerodrop/internal/localcluster/podapp"
)

func TestParseCRILine(t *testing.T) {
	tests := []struct {
		name string
		line string
		ok   bool
		step podapp.Step
	}{
		{name: "a full stdout line with a podapp record", line: `2026-12-02T04:00:00.1Z stdout F {"time":"2026-12-02T04:00:00.05Z","step":"sigterm","pod":"web"}`, ok: true, step: podapp.StepSIGTERM},
		{name: "a line of other output", line: `2026-12-02T04:00:00.1Z stderr F podapp: listen tcp :8080: address already in use`, ok: false},
		{name: "a line without the CRI prefix", line: `{"time":"2026-12-02T04:00:00.05Z","step":"sigterm"}`, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := parseCRILine([]byte(tt.line))
			if ok != tt.ok || (ok && r.Step != tt.step) {
				t.Fatalf("got %+v, %v; want step %q, %v", r, ok, tt.step, tt.ok)
			}
		})
	}
}

func TestCNIConfig_IsJSONWithTheNodesSubnet(t *testing.T) {
	var conf struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPAM   struct {
				Ranges [][]struct {
					Subnet, Gateway string
				} `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(cniConfig("zerodrop-rn-1-rnode-3", "zd3", 3, "/tmp/ipam")), &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugins) != 1 || conf.Plugins[0].Type != "bridge" || conf.Plugins[0].Bridge != "zd3" {
		t.Fatalf("plugins %+v", conf.Plugins)
	}
	r := conf.Plugins[0].IPAM.Ranges[0][0]
	if r.Subnet != "10.244.3.0/24" || r.Gateway != RealNodeIP(3) {
		t.Fatalf("range %+v", r)
	}
}
