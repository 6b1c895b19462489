package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
)

//go:embed report.html.tmpl
var htmlTemplate string

// Chart geometry, in SVG user units.
const (
	chartWidth   = 1320.0
	chartLeft    = 210.0 // room for lane labels
	chartRight   = 20.0
	reqTop       = 30.0
	reqHeight    = 220.0
	latTop       = reqTop + reqHeight + 50
	latHeight    = 130.0
	lanesTop     = latTop + latHeight + 50
	laneHeight   = 22.0
	laneGap      = 6.0
	chartBottom  = 40.0
	minAxisWidth = 1.0
)

// classColor gives each class a fixed colour on the chart.
func classColor(c classify.Class) string {
	switch c {
	case classify.OK:
		return "#b9dfc0"
	case classify.HTTP502:
		return "#d62728"
	case classify.HTTP503:
		return "#ff7f0e"
	case classify.HTTP504:
		return "#8c564b"
	case classify.HTTP5xx:
		return "#e377c2"
	case classify.HTTP4xx:
		return "#bcbd22"
	case classify.Refused:
		return "#9467bd"
	case classify.Reset:
		return "#1f1f7a"
	case classify.Timeout:
		return "#7f7f7f"
	case classify.EOF:
		return "#17becf"
	}
	return "#444444"
}

func stateColor(s string) string {
	switch s {
	case StatePending:
		return "#c7d7ee"
	case StateScheduled:
		return "#8fb3e0"
	case StateReady:
		return "#2ca02c"
	case StateNotReady:
		return "#f0b400"
	case StateTerminating:
		return "#d62728"
	}
	return "#999999"
}

type svgRect struct {
	X, Y, W, H  float64
	Fill, Title string
	Class       string
}

type svgLine struct {
	X1, Y1, X2, Y2 float64
	Stroke, Dash   string
	Title          string
}

type svgText struct {
	X, Y   float64
	Anchor string
	Text   string
	Class  string
}

type svgPolyline struct {
	Points, Stroke, Title, Class string
}

type svgMark struct {
	X, Y  float64
	Fill  string
	Title string
	Class string
}

type laneView struct {
	Subject string
	Label   svgText
	Back    svgRect
	Rects   []svgRect
	Marks   []svgMark
}

type legendItem struct{ Color, Label string }

type chartView struct {
	Width, Height float64
	Axis          []svgLine
	AxisText      []svgText
	Requests      []svgRect
	RateLine      svgLine
	Latency       []svgPolyline
	Lanes         []laneView
	EventLines    []svgLine
	EventText     []svgText
}

type htmlView struct {
	R             *Report
	Title         string
	Chart         chartView
	ClassLegend   []legendItem
	StateLegend   []legendItem
	LatencyLegend []legendItem
	Classes       []classRow
	ErrorSeconds  []Second
	UsedClasses   []classify.Class
	Events        []numberedEvent
}

type classRow struct {
	Class       classify.Class
	Description string
	Count       int64
	Color       string
}

type numberedEvent struct {
	N int
	Event
}

// WriteHTML writes r as one self-contained HTML page: inline CSS, an inline
// SVG chart rendered here, no script and no external resource.
func WriteHTML(w io.Writer, r *Report) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"f1":    func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"f3":    func(f float64) string { return fmt.Sprintf("%.3f", f) },
		"pct":   func(f float64) string { return fmt.Sprintf("%.4f%%", 100*f) },
		"num":   func(f float64) string { return fmt.Sprintf("%.2f", f) },
		"class": func(s Second, c classify.Class) int64 { return s.ByClass[c] },
		"join":  strings.Join,
	}).Parse(htmlTemplate)
	if err != nil {
		return fmt.Errorf("parsing the HTML template: %w", err)
	}
	if err := tmpl.Execute(w, buildHTMLView(r)); err != nil {
		return fmt.Errorf("writing the HTML report: %w", err)
	}
	return nil
}

func buildHTMLView(r *Report) htmlView {
	v := htmlView{R: r, Title: "zerodrop verify: " + strings.Join(r.Config.Targets, ", ")}
	for _, c := range classify.All() {
		v.Classes = append(v.Classes, classRow{Class: c, Description: c.Description(), Count: r.Totals.ByClass[c], Color: classColor(c)})
		v.ClassLegend = append(v.ClassLegend, legendItem{Color: classColor(c), Label: string(c)})
	}
	for _, s := range []string{StatePending, StateScheduled, StateReady, StateNotReady, StateTerminating} {
		v.StateLegend = append(v.StateLegend, legendItem{Color: stateColor(s), Label: s})
	}
	v.LatencyLegend = []legendItem{{"#1f77b4", "p50"}, {"#ff7f0e", "p90"}, {"#d62728", "p99"}}
	v.UsedClasses = usedClasses(r)
	for _, s := range r.Seconds {
		if s.Failed > 0 {
			v.ErrorSeconds = append(v.ErrorSeconds, s)
		}
	}
	n := 0
	for _, e := range r.Events {
		if !laneSubject(e.Subject) {
			n++
			v.Events = append(v.Events, numberedEvent{N: n, Event: e})
		} else {
			v.Events = append(v.Events, numberedEvent{Event: e})
		}
	}
	v.Chart = buildChart(r, v.Events)
	return v
}

func buildChart(r *Report, events []numberedEvent) chartView {
	span := math.Max(float64(len(r.Seconds)), r.DurationSeconds)
	for _, e := range r.Events {
		span = math.Max(span, e.AtSeconds)
	}
	span = math.Max(math.Ceil(span), minAxisWidth)
	plotW := chartWidth - chartLeft - chartRight
	x := func(sec float64) float64 { return chartLeft + plotW*math.Max(sec, 0)/span }

	lanesH := float64(len(r.Lanes)) * (laneHeight + laneGap)
	c := chartView{Width: chartWidth, Height: lanesTop + lanesH + chartBottom}
	bottom := c.Height - chartBottom + 10

	// Time axis with ticks every step seconds.
	step := niceStep(span / 15)
	for t := 0.0; t <= span+1e-9; t += step {
		c.Axis = append(c.Axis, svgLine{X1: x(t), Y1: reqTop, X2: x(t), Y2: bottom, Stroke: "#eeeeee"})
		c.AxisText = append(c.AxisText, svgText{X: x(t), Y: bottom + 14, Anchor: "middle", Text: fmt.Sprintf("%gs", t), Class: "tick"})
	}

	// Requests per second: ok at the bottom, failure classes stacked on top.
	maxSent := 1.0
	for _, s := range r.Seconds {
		maxSent = math.Max(maxSent, float64(s.Sent))
	}
	maxSent = math.Max(maxSent, r.Rate.Requested)
	yMax := niceCeil(maxSent * 1.1)
	yReq := func(n float64) float64 { return reqTop + reqHeight - reqHeight*n/yMax }
	c.AxisText = append(c.AxisText,
		svgText{X: chartLeft - 8, Y: reqTop + 4, Anchor: "end", Text: fmt.Sprintf("%g/s", yMax), Class: "tick"},
		svgText{X: chartLeft - 8, Y: reqTop + reqHeight, Anchor: "end", Text: "0", Class: "tick"},
		svgText{X: chartLeft, Y: reqTop - 10, Text: "requests per second by outcome (stacked)", Class: "panel"})
	c.Axis = append(c.Axis, svgLine{X1: chartLeft, Y1: reqTop + reqHeight, X2: chartLeft + plotW, Y2: reqTop + reqHeight, Stroke: "#888888"})
	barW := math.Max(plotW/span-1, 1)
	for _, s := range r.Seconds {
		base := 0.0
		for _, cl := range classify.All() {
			var n int64
			if cl == classify.OK {
				n = s.OK
			} else {
				n = s.ByClass[cl]
			}
			if n == 0 {
				continue
			}
			y0, y1 := yReq(base), yReq(base+float64(n))
			c.Requests = append(c.Requests, svgRect{X: x(float64(s.Second)), Y: y1, W: barW, H: math.Max(y0-y1, 0.5), Fill: classColor(cl),
				Class: "bar " + string(cl), Title: fmt.Sprintf("second %d: %d %s of %d sent", s.Second, n, cl, s.Sent)})
			base += float64(n)
		}
	}
	c.RateLine = svgLine{X1: chartLeft, Y1: yReq(r.Rate.Requested), X2: chartLeft + plotW, Y2: yReq(r.Rate.Requested), Stroke: "#333333", Dash: "4 3",
		Title: fmt.Sprintf("requested %.0f/s", r.Rate.Requested)}

	// Latency percentiles per second.
	maxLat := 1.0
	for _, s := range r.Seconds {
		maxLat = math.Max(maxLat, s.LatencyMs.P99)
	}
	latMax := niceCeil(maxLat * 1.1)
	yLat := func(ms float64) float64 { return latTop + latHeight - latHeight*math.Min(ms, latMax)/latMax }
	c.AxisText = append(c.AxisText,
		svgText{X: chartLeft - 8, Y: latTop + 4, Anchor: "end", Text: fmt.Sprintf("%g ms", latMax), Class: "tick"},
		svgText{X: chartLeft - 8, Y: latTop + latHeight, Anchor: "end", Text: "0", Class: "tick"},
		svgText{X: chartLeft, Y: latTop - 10, Text: "latency per second (ms): p50, p90, p99", Class: "panel"})
	c.Axis = append(c.Axis, svgLine{X1: chartLeft, Y1: latTop + latHeight, X2: chartLeft + plotW, Y2: latTop + latHeight, Stroke: "#888888"})
	for _, p := range []struct {
		name, color string
		get         func(Latency) float64
	}{
		{"p50", "#1f77b4", func(l Latency) float64 { return l.P50 }},
		{"p90", "#ff7f0e", func(l Latency) float64 { return l.P90 }},
		{"p99", "#d62728", func(l Latency) float64 { return l.P99 }},
	} {
		var pts []string
		for _, s := range r.Seconds {
			if s.Sent == 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(s.Second)+0.5), yLat(p.get(s.LatencyMs))))
		}
		c.Latency = append(c.Latency, svgPolyline{Points: strings.Join(pts, " "), Stroke: p.color, Title: p.name + " latency", Class: "latency " + p.name})
	}

	// Lanes: one per pod and TargetBinding.
	c.AxisText = append(c.AxisText, svgText{X: chartLeft, Y: lanesTop - 10, Text: "pods and TargetBindings", Class: "panel"})
	for i, l := range r.Lanes {
		y := lanesTop + float64(i)*(laneHeight+laneGap)
		lv := laneView{
			Subject: l.Subject,
			Label:   svgText{X: chartLeft - 8, Y: y + laneHeight*0.7, Anchor: "end", Text: l.Subject, Class: "lanelabel"},
			Back:    svgRect{X: chartLeft, Y: y, W: plotW, H: laneHeight, Fill: "#f6f6f6"},
		}
		for _, s := range l.Segments {
			lv.Rects = append(lv.Rects, svgRect{X: x(s.FromSeconds), Y: y + 3, W: math.Max(x(s.ToSeconds)-x(s.FromSeconds), 1), H: laneHeight - 6,
				Fill: stateColor(s.State), Class: "segment " + s.State,
				Title: fmt.Sprintf("%s: %s from %.3fs to %.3fs", l.Subject, s.State, s.FromSeconds, s.ToSeconds)})
		}
		for _, m := range l.Marks {
			fill := "#000000"
			if m.Kind == KindPodGateTrue || m.Kind == KindBindingTargets {
				fill = "#0b5d1e"
			}
			lv.Marks = append(lv.Marks, svgMark{X: x(m.AtSeconds), Y: y + laneHeight/2, Fill: fill, Class: "mark",
				Title: fmt.Sprintf("%+.3fs %s: %s", m.AtSeconds, m.Kind, m.Message)})
		}
		c.Lanes = append(c.Lanes, lv)
	}

	// Run events (verify, caller, deployment) as numbered vertical lines.
	for _, e := range events {
		if e.N == 0 {
			continue
		}
		color := "#555555"
		if e.Source == SourceCaller {
			color = "#7b2cbf"
		}
		c.EventLines = append(c.EventLines, svgLine{X1: x(e.AtSeconds), Y1: reqTop, X2: x(e.AtSeconds), Y2: bottom, Stroke: color, Dash: "2 2",
			Title: fmt.Sprintf("%d. %+.3fs %s %s %s", e.N, e.AtSeconds, e.Kind, e.Subject, e.Message)})
		c.EventText = append(c.EventText, svgText{X: x(e.AtSeconds) + 2, Y: reqTop + 10 + float64((e.N-1)%4)*11, Text: fmt.Sprint(e.N), Class: "evnum"})
	}
	return c
}

// niceStep rounds d up to 1, 2 or 5 times a power of ten.
func niceStep(d float64) float64 {
	if d <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(d)))
	for _, m := range []float64{1, 2, 5, 10} {
		if d <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceCeil rounds f up to a round axis maximum.
func niceCeil(f float64) float64 {
	if f <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(f)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if f <= m*p {
			return m * p
		}
	}
	return 10 * p
}
