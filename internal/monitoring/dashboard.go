// Package monitoring builds zerodrop's Grafana dashboard (written into the
// chart by hack/genchart) and reads the chart's alerts the way Prometheus
// does: Rules parses them with Prometheus' rule parser, Evaluator runs
// them with Prometheus' own query engine and alerting rules over samples
// gathered from the controller's registry at timestamps the caller
// chooses. The chart tests and the integration tests use it; the
// controller does not.
package monitoring

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// DashboardUID is the dashboard's stable uid.
const DashboardUID = "zerodrop"

// The dashboard's variables, as they appear in its queries.
const (
	varDatasource = "datasource"
	varNamespace  = "namespace"
)

// ns is the label matcher every binding-scoped query uses.
const ns = `namespace=~"$` + varNamespace + `"`

// panel is one time-series panel of the dashboard.
type panel struct {
	title, description, unit string
	// queries are PromQL expression → legend.
	queries [][2]string
}

// row is a titled group of panels.
type row struct {
	title  string
	panels []panel
}

// rows are the dashboard's contents, top to bottom.
func rows() []row {
	return []row{
		{"Gates", []panel{
			{title: "Gate latency", unit: "s",
				description: "Time until a readiness gate turned True: from pod creation, and from the controller first seeing the target healthy on every instance.",
				queries: [][2]string{
					{`histogram_quantile(0.5, sum by (le, from) (rate(zerodrop_gate_latency_seconds_bucket[$__rate_interval])))`, "p50 from {{from}}"},
					{`histogram_quantile(0.99, sum by (le, from) (rate(zerodrop_gate_latency_seconds_bucket[$__rate_interval])))`, "p99 from {{from}}"},
				}},
			{title: "Pending gates", unit: "short",
				description: "Selected pods whose readiness gate is not True yet, and the oldest one's age against the binding's health-check interval.",
				queries: [][2]string{
					{`max by (namespace, binding) (zerodrop_gates_pending{` + ns + `})`, "{{namespace}}/{{binding}} pending"},
				}},
			{title: "Oldest pending gate", unit: "s",
				description: "Age of each binding's oldest pending gate; ZerodropGatePendingTooLong fires above N health-check intervals.",
				queries: [][2]string{
					{`max by (namespace, binding) (zerodrop_gate_pending_oldest_seconds{` + ns + `})`, "{{namespace}}/{{binding}}"},
					{`max by (namespace, binding) (zerodrop_binding_check_interval_seconds{` + ns + `})`, "{{namespace}}/{{binding}} check interval"},
				}},
			{title: "Pods missing the gate", unit: "short",
				description: "Selected pods created without the binding's readiness gate (before the binding, or while the webhook was down).",
				queries: [][2]string{
					{`max by (namespace, binding) (zerodrop_pods_missing_gate{` + ns + `})`, "{{namespace}}/{{binding}}"},
				}},
		}},
		{"Targets and load balancers", []panel{
			{title: "Targets by state", unit: "short",
				description: "Each binding's targets: desired, healthy on every instance, initial, unhealthy on some instance, draining.",
				queries: [][2]string{
					{`sum by (state) (zerodrop_targets{` + ns + `})`, "{{state}}"},
				}},
			{title: "Instance up", unit: "short",
				description: "1 when the controller's last probe of a load-balancer instance answered, 0 when it did not.",
				queries: [][2]string{
					{`max by (loadbalancer, instance) (zerodrop_instance_up)`, "{{loadbalancer}}/{{instance}}"},
				}},
		}},
		{"Drains", []panel{
			{title: "Drain duration", unit: "s",
				description: "Time from drain start to a target's removal from one instance, by outcome (drained: sessions ended; timeout: cut at drain.timeout).",
				queries: [][2]string{
					{`histogram_quantile(0.5, sum by (le, outcome) (rate(zerodrop_drain_duration_seconds_bucket[$__rate_interval])))`, "p50 {{outcome}}"},
					{`histogram_quantile(0.99, sum by (le, outcome) (rate(zerodrop_drain_duration_seconds_bucket[$__rate_interval])))`, "p99 {{outcome}}"},
				}},
			{title: "Drains by outcome", unit: "ops",
				queries: [][2]string{
					{`sum by (outcome) (rate(zerodrop_drain_duration_seconds_count[$__rate_interval]))`, "{{outcome}}"},
				}},
			{title: "Drain endpoint answers", unit: "reqps",
				description: "Answers to terminating pods' asks; Unauthenticated, Forbidden, ReviewFailed, AnswerFailed and ClientGone push a pod's wait towards its fixed fallback.",
				queries: [][2]string{
					{`sum by (answer) (rate(zerodrop_drain_answers_total[$__rate_interval]))`, "{{answer}}"},
				}},
		}},
		{"Errors", []panel{
			{title: "Load-balancer errors", unit: "ops",
				description: "Failed calls to load-balancer instances, by operation.",
				queries: [][2]string{
					{`sum by (loadbalancer, instance, operation) (rate(zerodrop_backend_errors_total[$__rate_interval]))`, "{{loadbalancer}}/{{instance}} {{operation}}"},
				}},
			{title: "Webhook errors", unit: "ops",
				description: "Pods admitted unchanged (no gate, no drain wait) because of an internal error, by reason.",
				queries: [][2]string{
					{`sum by (reason) (rate(zerodrop_webhook_errors_total[$__rate_interval]))`, "{{reason}}"},
				}},
			{title: "Instance restarts", unit: "short",
				description: "Reloads or restarts of load-balancer instances the controller noticed (lost dynamic servers are registered again).",
				queries: [][2]string{
					{`sum by (loadbalancer, instance) (increase(zerodrop_instance_restarts_total[$__rate_interval]))`, "{{loadbalancer}}/{{instance}}"},
				}},
		}},
	}
}

// Dashboard builds the dashboard.
//
//lint:ignore SA1019 the classic dashboard JSON (v1) is what Grafana's sidecar and file provisioning load; dashboardv2 is the app-platform resource
func Dashboard() (dashboard.Dashboard, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + varDatasource + "}")}
	//lint:ignore SA1019 the classic dashboard JSON (v1) is what Grafana's sidecar and file provisioning load; dashboardv2 is the app-platform resource
	b := dashboard.NewDashboardBuilder("zerodrop").
		Uid(DashboardUID).
		Description("zerodrop: readiness gates, targets, drains and errors (docs/monitoring.md).").
		Tags([]string{"zerodrop", "kubernetes", "load-balancer"}).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder(varDatasource).Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder(varNamespace).Label("Namespace").
			Datasource(ds).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(zerodrop_targets, namespace)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Multi(true).IncludeAll(true).AllValue(".*"))
	for _, r := range rows() {
		b = b.WithRow(dashboard.NewRowBuilder(r.title))
		for _, p := range r.panels {
			pb := timeseries.NewPanelBuilder().Title(p.title).Unit(p.unit).Min(0).Datasource(ds).Height(8).Span(8)
			if p.description != "" {
				pb = pb.Description(p.description)
			}
			for i, q := range p.queries {
				pb = pb.WithTarget(prometheus.NewDataqueryBuilder().Expr(q[0]).LegendFormat(q[1]).RefId(string(rune('A' + i))).Datasource(ds))
			}
			b = b.WithPanel(pb)
		}
	}
	d, err := b.Build()
	if err != nil {
		//lint:ignore SA1019 the classic dashboard JSON (v1) is what Grafana's sidecar and file provisioning load; dashboardv2 is the app-platform resource
		return dashboard.Dashboard{}, fmt.Errorf("building the dashboard: %w", err)
	}
	return d, nil
}

// DashboardJSON returns the dashboard as indented JSON, as the chart ships
// it.
func DashboardJSON() ([]byte, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the dashboard: %w", err)
	}
	return append(data, '\n'), nil
}
