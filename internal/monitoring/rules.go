package monitoring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/teststorage"
	"sigs.k8s.io/yaml"
)

// Parser is the PromQL parser with Prometheus' default options, the one
// its rule manager uses.
func Parser() parser.Parser { return parser.NewParser(parser.Options{}) }

// DecodePrometheusRule decodes one rendered PrometheusRule manifest into
// the Prometheus Operator's type, strictly: an unknown field is an error.
func DecodePrometheusRule(manifest []byte) (*monitoringv1.PrometheusRule, error) {
	pr := &monitoringv1.PrometheusRule{}
	if err := yaml.UnmarshalStrict(manifest, pr); err != nil {
		return nil, fmt.Errorf("decoding the PrometheusRule: %w", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("decoding the PrometheusRule: got %s %s", pr.APIVersion, pr.Kind)
	}
	return pr, nil
}

// DecodeServiceMonitor decodes one rendered ServiceMonitor manifest into
// the Prometheus Operator's type, strictly.
func DecodeServiceMonitor(manifest []byte) (*monitoringv1.ServiceMonitor, error) {
	sm := &monitoringv1.ServiceMonitor{}
	if err := yaml.UnmarshalStrict(manifest, sm); err != nil {
		return nil, fmt.Errorf("decoding the ServiceMonitor: %w", err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" {
		return nil, fmt.Errorf("decoding the ServiceMonitor: got %s %s", sm.APIVersion, sm.Kind)
	}
	return sm, nil
}

// Rules parses a PrometheusRule's groups with Prometheus' own rule parser
// (model/rulefmt, unknown fields refused, every expression and template
// checked), as Prometheus loads the file the operator writes.
func Rules(pr *monitoringv1.PrometheusRule) (*rulefmt.RuleGroups, error) {
	data, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		return nil, fmt.Errorf("encoding the rule groups: %w", err)
	}
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, Parser(), promslog.NewNopLogger())
	if len(errs) > 0 {
		return nil, fmt.Errorf("parsing the rule groups: %w", errors.Join(errs...))
	}
	return groups, nil
}

// MetricNames returns the metric names an expression selects, sorted.
func MetricNames(expr string) ([]string, error) {
	e, err := Parser().ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", expr, err)
	}
	var names []string
	for _, vs := range parser.ExtractSelectors(e) {
		for _, m := range vs {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Scrape gathers g and returns it in the text exposition format, what
// Prometheus reads from the metrics endpoint.
func Scrape(g prometheus.Gatherer) ([]byte, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering metrics: %w", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	return b.Bytes(), nil
}

// Evaluator runs alerting rules the way Prometheus' rule manager does
// (rules.AlertingRule over promql.Engine, `for` and `keep_firing_for`
// included) over scrapes appended at timestamps the caller chooses, so that
// minutes of rule time pass in an instant of test time.
type Evaluator struct {
	db     *teststorage.TestStorage
	engine *promql.Engine
	rules  []*rules.AlertingRule
}

// NewEvaluator returns an evaluator of every alerting rule in groups, on
// an empty storage; Close it.
func NewEvaluator(groups *rulefmt.RuleGroups) (*Evaluator, error) {
	db, err := teststorage.NewWithError()
	if err != nil {
		return nil, fmt.Errorf("opening the test storage: %w", err)
	}
	e := &Evaluator{db: db, engine: promql.NewEngine(promql.EngineOpts{
		MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: Parser(),
	})}
	p := Parser()
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("alert %s: %w", r.Alert, err)
			}
			e.rules = append(e.rules, rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
				labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, slog.New(slog.DiscardHandler)))
		}
	}
	return e, nil
}

// Close removes the storage.
func (e *Evaluator) Close() error { return e.db.Close() }

// Alerts returns the names of the alerting rules.
func (e *Evaluator) Alerts() []string {
	var out []string
	for _, r := range e.rules {
		out = append(out, r.Name())
	}
	return out
}

// Add appends one scrape (text exposition format) at ts, parsed by
// Prometheus' own exposition parser.
func (e *Evaluator) Add(ts time.Time, exposition []byte) error {
	p := textparse.NewPromParser(exposition, labels.NewSymbolTable(), false)
	app := e.db.Appender(context.Background())
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = app.Rollback()
			return fmt.Errorf("parsing the scrape: %w", err)
		}
		if entry != textparse.EntrySeries {
			continue
		}
		var l labels.Labels
		p.Labels(&l)
		_, _, v := p.Series()
		if _, err := app.Append(0, l, ts.UnixMilli(), v); err != nil {
			_ = app.Rollback()
			return fmt.Errorf("appending %s: %w", l, err)
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("committing the scrape: %w", err)
	}
	return nil
}

// Firing is one firing alert: its name and labels (rule labels included).
type Firing struct {
	Alert  string
	Labels labels.Labels
}

func (f Firing) String() string { return f.Alert + f.Labels.String() }

// Eval evaluates every rule at ts, in order, and returns the alerts firing
// then (pending ones, still within their `for`, are not), sorted.
func (e *Evaluator) Eval(ts time.Time) ([]Firing, error) {
	q := rules.EngineQueryFunc(e.engine, e.db)
	var out []Firing
	for _, r := range e.rules {
		if _, err := r.Eval(context.Background(), 0, ts, q, &url.URL{}, 0); err != nil {
			return nil, fmt.Errorf("evaluating %s: %w", r.Name(), err)
		}
		for _, a := range r.ActiveAlerts() {
			if a.State == rules.StateFiring {
				out = append(out, Firing{Alert: r.Name(), Labels: a.Labels})
			}
		}
	}
	slices.SortFunc(out, func(a, b Firing) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}
