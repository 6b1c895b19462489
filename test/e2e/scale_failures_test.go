package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
	"github.com/zerodrop/zerodrop/internal/verify"
)

// What the cluster-scale benchmark keeps of failed requests, to say where
// they came from: on the client, each failure's message and time; on each
// HAProxy instance, its log of abnormal requests (process.Config.
// RequestErrors), whose termination state says which side ended the
// request and when (HAProxy's "session state at disconnection": the first
// letter C for the client, S for the server, P for HAProxy itself, s for
// a server-side timeout...; the second the phase: R request, C connect, H
// headers, D data).

// failureLog is one lane's failed requests. It is safe for concurrent use.
type failureLog struct {
	// instance maps a target URL to the HAProxy instance it goes through.
	instance map[string]int
	mu       sync.Mutex
	byMsg    map[string]int
	sent     []time.Time
	// conns are the first failures on a connection: when, and its local
	// address.
	conns []string
}

// addr matches an IPv4 address and port in an error message.
var addr = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)

// add records r if it failed.
func (f *failureLog) add(r verify.Result) {
	if !r.Class.Failed() {
		return
	}
	msg := fmt.Sprintf("HTTP %d", r.Code)
	if r.Err != nil {
		err := r.Err
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		msg = addr.ReplaceAllString(err.Error(), "ADDR")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byMsg == nil {
		f.byMsg = map[string]int{}
	}
	f.byMsg[fmt.Sprintf("%s: %s (%s, instance %d)", r.Class, msg, connOf(r.Conn), f.instance[r.URL])]++
	f.sent = append(f.sent, r.Sent)
	if r.Conn.Local != "" && len(f.conns) < 20 {
		f.conns = append(f.conns, fmt.Sprintf("%s %s→%s idle %s", r.Sent.UTC().Format("15:04:05.000"), r.Conn.Local, r.URL, r.Conn.IdleTime.Round(time.Millisecond)))
	}
}

// connOf says how a failed request got its connection, the idle time of
// a reused one rounded to a span: a connection the LB closed as the
// request went out on it is a keep-alive race, not a routing error.
func connOf(c verify.ConnInfo) string {
	switch {
	case !c.Got:
		return "no connection record"
	case !c.Reused:
		return "new connection"
	case c.IdleTime < 100*time.Millisecond:
		return "reused, idle < 100ms"
	case c.IdleTime < 500*time.Millisecond:
		return "reused, idle 100-500ms"
	}
	return "reused, idle >= 500ms"
}

// summary is the lane's five commonest failure messages and how its
// failures spread over 5-second spans from start ("" when none failed).
func (f *failureLog) summary(start time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return ""
	}
	out := "messages " + top(f.byMsg, 5) + "; by 5 s since the rollout began " + spans(f.sent, start)
	if len(f.conns) > 0 {
		out += "; on connections " + strings.Join(f.conns, ", ")
	}
	return out
}

// top formats the n largest counts of m, largest first.
func top(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	var parts []string
	for i, k := range keys {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more kinds", len(keys)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%q ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// spans counts times by 5-second span from start: "[-5s,0s) 2, [10s,15s)
// 40".
func spans(at []time.Time, start time.Time) string {
	const span = 5 * time.Second
	count := map[int]int{}
	for _, t := range at {
		d := t.Sub(start)
		i := int(d / span)
		if d < 0 && d%span != 0 {
			i--
		}
		count[i]++
	}
	keys := make([]int, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("[%s,%s) %d", time.Duration(k)*span, time.Duration(k+1)*span, count[k]))
	}
	return strings.Join(parts, ", ")
}

// haproxyLogLine matches the status and termination state of an HTTP log
// line (option httplog): `... fe be/srv Tq/Tw/Tc/Tr/Ta status bytes
// cookie cookie TERM ...`.
var haproxyLogLine = regexp.MustCompile(`\] (\S+) ([^/ ]+)/(\S+) \S+ (-?\d+) \d+ \S+ \S+ (\S{4}) `)

// requestErrors summarises the abnormal requests both instances logged
// since start, by lane (the backend's prefix), status and termination
// state, with one example line of each of the commonest kinds.
func requestErrors(ctx context.Context, lbs []*process.Process, start time.Time) string {
	count := map[string]int{}
	example := map[string]string{}
	for i, p := range lbs {
		lines, err := p.RequestErrors(ctx)
		if err != nil {
			return fmt.Sprintf("instance %d: %v", i, err)
		}
		for _, l := range lines {
			if l.At.Before(start) {
				continue
			}
			key := "unparsed"
			if m := haproxyLogLine.FindStringSubmatch(l.Line); m != nil {
				lane, _, _ := strings.Cut(strings.TrimPrefix(m[1], "fe-"), "-")
				key = fmt.Sprintf("%s %s %s", lane, m[4], m[5])
			}
			count[key]++
			if _, ok := example[key]; !ok {
				example[key] = fmt.Sprintf("%d: %s", i, l.Line)
			}
		}
	}
	if len(count) == 0 {
		return "none"
	}
	var ex []string
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b)) })
	for _, k := range keys[:min(len(keys), 4)] {
		ex = append(ex, "      "+example[k])
	}
	return top(count, 10) + "; examples:\n" + strings.Join(ex, "\n")
}

// stallWatch records when this process (the load, the apps and the
// virtual nodes) was not scheduled: a ticker every 20 ms whose tick came
// more than 250 ms late. A stall longer than HAProxy's client keep-alive
// timeout (1 s) lets HAProxy close connections the load is about to use.
type stallWatch struct {
	mu     sync.Mutex
	stalls []stall
}

// stall is a late tick: when it came and how long the gap was.
type stall struct {
	at  time.Time
	gap time.Duration
}

// watchStalls runs until ctx ends.
func watchStalls(ctx context.Context) *stallWatch {
	const tick, late = 20 * time.Millisecond, 250 * time.Millisecond
	w := &stallWatch{}
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if gap := now.Sub(last); gap > late {
					w.mu.Lock()
					w.stalls = append(w.stalls, stall{now, gap})
					w.mu.Unlock()
				}
				last = now
			}
		}
	}()
	return w
}

// summary lists the stalls relative to start, the longest ten in time
// order, and their count ("none" without one).
func (w *stallWatch) summary(start time.Time) string {
	w.mu.Lock()
	s := slices.Clone(w.stalls)
	w.mu.Unlock()
	if len(s) == 0 {
		return "none"
	}
	n := len(s)
	slices.SortFunc(s, func(a, b stall) int { return cmp.Compare(b.gap, a.gap) })
	s = s[:min(len(s), 10)]
	slices.SortFunc(s, func(a, b stall) int { return a.at.Compare(b.at) })
	var parts []string
	for _, st := range s {
		parts = append(parts, fmt.Sprintf("at %s for %s", st.at.Sub(start).Round(100*time.Millisecond), st.gap.Round(10*time.Millisecond)))
	}
	return fmt.Sprintf("%d, the longest %s", n, strings.Join(parts, ", "))
}
