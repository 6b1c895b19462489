package elbv2emu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// namespace is the Query API's XML namespace.
const namespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

// Actions the emulator serves.
const (
	actionDescribeTargetGroups          = "DescribeTargetGroups"
	actionDescribeTargetGroupAttributes = "DescribeTargetGroupAttributes"
	actionDescribeTargetHealth          = "DescribeTargetHealth"
	actionRegisterTargets               = "RegisterTargets"
	actionDeregisterTargets             = "DeregisterTargets"
	actionCreateTargetGroup             = "CreateTargetGroup"
	actionDeleteTargetGroup             = "DeleteTargetGroup"
)

// Limits of DescribeTargetGroups' PageSize, as AWS documents them.
const (
	minPageSize     = 1
	maxPageSize     = 400
	defaultPageSize = 400
)

// vpcID is the emulator's one VPC.
const vpcID = "vpc-0e1b2e1b2e1b2e1b2"

// handle runs one admitted call and returns its result structure.
func (e *Emulator) handle(ctx context.Context, action string, f form) (any, error) {
	switch action {
	case actionDescribeTargetGroups:
		return e.describeTargetGroups(f)
	case actionDescribeTargetGroupAttributes:
		g, err := e.groupParam(f)
		if err != nil {
			return nil, err
		}
		return attributesResult{Attributes: g.attributes()}, nil
	case actionDescribeTargetHealth:
		return e.describeTargetHealth(f)
	case actionRegisterTargets:
		return e.registerTargets(f)
	case actionDeregisterTargets:
		return e.deregisterTargets(f)
	case actionCreateTargetGroup:
		return e.createTargetGroupAction(ctx, f)
	case actionDeleteTargetGroup:
		arn, err := f.required("TargetGroupArn")
		if err != nil {
			return nil, err
		}
		if err := validARN(arn); err != nil {
			return nil, err
		}
		if err := e.deleteTargetGroup(arn); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	}
	return nil, errorf(CodeInvalidAction, "Could not find operation %s for version %s", action, apiVersion)
}

// validARN checks that s looks like a target group ARN.
func validARN(s string) error {
	if !strings.HasPrefix(s, "arn:") || !strings.Contains(s, ":targetgroup/") {
		return errorf(CodeValidationError, "'%s' is not a valid target group ARN", s)
	}
	return nil
}

// groupParam returns the group named by TargetGroupArn.
func (e *Emulator) groupParam(f form) (*targetGroup, error) {
	arn, err := f.required("TargetGroupArn")
	if err != nil {
		return nil, err
	}
	if err := validARN(arn); err != nil {
		return nil, err
	}
	g := e.group(arn)
	if g == nil {
		return nil, errorf(CodeTargetGroupNotFound, "Target groups '%s' not found", arn)
	}
	return g, nil
}

// XML shapes of results, as the SDK reads them.
type (
	targetGroupsResult struct {
		TargetGroups []targetGroupXML `xml:"TargetGroups>member"`
		NextMarker   string           `xml:"NextMarker,omitempty"`
	}
	targetGroupXML struct {
		HealthCheckEnabled         bool     `xml:"HealthCheckEnabled"`
		HealthCheckIntervalSeconds int32    `xml:"HealthCheckIntervalSeconds"`
		HealthCheckPath            string   `xml:"HealthCheckPath"`
		HealthCheckPort            string   `xml:"HealthCheckPort"`
		HealthCheckProtocol        string   `xml:"HealthCheckProtocol"`
		HealthCheckTimeoutSeconds  int32    `xml:"HealthCheckTimeoutSeconds"`
		HealthyThresholdCount      int32    `xml:"HealthyThresholdCount"`
		IPAddressType              string   `xml:"IpAddressType"`
		LoadBalancerArns           []string `xml:"LoadBalancerArns>member"`
		Matcher                    struct {
			HTTPCode string `xml:"HttpCode"`
		} `xml:"Matcher"`
		Port                    int32  `xml:"Port"`
		Protocol                string `xml:"Protocol"`
		ProtocolVersion         string `xml:"ProtocolVersion,omitempty"`
		TargetGroupArn          string `xml:"TargetGroupArn"`
		TargetGroupName         string `xml:"TargetGroupName"`
		TargetType              string `xml:"TargetType"`
		UnhealthyThresholdCount int32  `xml:"UnhealthyThresholdCount"`
		VpcID                   string `xml:"VpcId"`
	}
	attributesResult struct {
		Attributes []attributeXML `xml:"Attributes>member"`
	}
	attributeXML struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	}
	targetHealthResult struct {
		TargetHealthDescriptions []targetHealthXML `xml:"TargetHealthDescriptions>member"`
	}
	targetHealthXML struct {
		HealthCheckPort string `xml:"HealthCheckPort"`
		Target          struct {
			AvailabilityZone string `xml:"AvailabilityZone,omitempty"`
			ID               string `xml:"Id"`
			Port             int32  `xml:"Port"`
		} `xml:"Target"`
		TargetHealth struct {
			Description string `xml:"Description,omitempty"`
			Reason      string `xml:"Reason,omitempty"`
			State       string `xml:"State"`
		} `xml:"TargetHealth"`
	}
	responseMetadata struct {
		RequestID string `xml:"RequestId"`
	}
	errorResponse struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}
)

// xmlOf renders a group as the API's TargetGroup.
func (g *targetGroup) xmlOf() targetGroupXML {
	x := targetGroupXML{
		HealthCheckEnabled:         true,
		HealthCheckIntervalSeconds: seconds(g.spec.HealthCheckInterval),
		HealthCheckPath:            g.spec.HealthCheckPath,
		HealthCheckPort:            "traffic-port",
		HealthCheckProtocol:        "HTTP",
		HealthCheckTimeoutSeconds:  seconds(g.spec.HealthCheckTimeout),
		HealthyThresholdCount:      g.spec.HealthyThreshold,
		IPAddressType:              "ipv4",
		Port:                       g.spec.Port,
		Protocol:                   "HTTP",
		ProtocolVersion:            "HTTP1",
		TargetGroupArn:             g.arn,
		TargetGroupName:            g.spec.Name,
		TargetType:                 "ip",
		UnhealthyThresholdCount:    g.spec.UnhealthyThreshold,
		VpcID:                      vpcID,
	}
	x.Matcher.HTTPCode = "200"
	if g.spec.LBType == LBNetwork {
		x.Protocol, x.ProtocolVersion = "TCP", ""
	}
	if g.isAttached() {
		x.LoadBalancerArns = []string{g.lbARN}
	}
	return x
}

// attributes returns the group's attributes, with AWS's defaults for what
// the emulator does not model.
func (g *targetGroup) attributes() []attributeXML {
	a := func(k, v string) attributeXML { return attributeXML{Key: k, Value: v} }
	attrs := []attributeXML{
		a("deregistration_delay.timeout_seconds", strconv.Itoa(int(seconds(g.spec.DeregistrationDelay)))),
		a("stickiness.enabled", "false"),
	}
	if g.spec.LBType == LBNetwork {
		return append(attrs,
			a("stickiness.type", "source_ip"),
			a("deregistration_delay.connection_termination.enabled", strconv.FormatBool(g.spec.ConnectionTermination)),
			a("preserve_client_ip.enabled", "true"),
			a("proxy_protocol_v2.enabled", "false"),
			a("target_health_state.unhealthy.connection_termination.enabled", "true"),
			a("target_health_state.unhealthy.draining_interval_seconds", "0"),
		)
	}
	return append(attrs,
		a("stickiness.type", "lb_cookie"),
		a("stickiness.lb_cookie.duration_seconds", "86400"),
		a("slow_start.duration_seconds", "0"),
		a("load_balancing.algorithm.type", "round_robin"),
	)
}

// describeTargetGroups serves DescribeTargetGroups: by ARNs, names or load
// balancer (at most one of them), paged by Marker and PageSize in order of
// creation.
func (e *Emulator) describeTargetGroups(f form) (any, error) {
	arnList, err := f.strings("TargetGroupArns")
	if err != nil {
		return nil, err
	}
	names, err := f.strings("Names")
	if err != nil {
		return nil, err
	}
	lbARN := f["LoadBalancerArn"]
	given := 0
	for _, ok := range []bool{len(arnList) > 0, len(names) > 0, lbARN != ""} {
		if ok {
			given++
		}
	}
	if given > 1 {
		return nil, errorf(CodeValidationError, "Only one of TargetGroupArns, Names and LoadBalancerArn can be specified")
	}
	pageSize := defaultPageSize
	if s, ok := f["PageSize"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < minPageSize || n > maxPageSize {
			return nil, errorf(CodeValidationError, "1 validation error detected: Value '%s' at 'pageSize' failed to satisfy constraint: Member must have value between %d and %d", s, minPageSize, maxPageSize)
		}
		pageSize = n
	}
	after := 0
	if m, ok := f["Marker"]; ok {
		after, err = parseMarker(m)
		if err != nil {
			return nil, err
		}
	}

	e.mu.Lock()
	var groups []*targetGroup
	var missing []string
	switch {
	case len(arnList) > 0:
		for _, a := range arnList {
			if err := validARN(a); err != nil {
				e.mu.Unlock()
				return nil, err
			}
			if g := e.groups[a]; g != nil {
				groups = append(groups, g)
			} else {
				missing = append(missing, a)
			}
		}
	case len(names) > 0:
		for _, n := range names {
			if g := e.byName[n]; g != nil {
				groups = append(groups, g)
			} else {
				missing = append(missing, n)
			}
		}
	default:
		for _, g := range e.groups {
			groups = append(groups, g)
		}
	}
	e.mu.Unlock()
	if len(missing) > 0 {
		return nil, errorf(CodeTargetGroupNotFound, "One or more target groups not found: '%s'", strings.Join(missing, "', '"))
	}
	if lbARN != "" {
		var on []*targetGroup
		known := false
		for _, g := range groups {
			if g.lbARN == lbARN {
				known = true
				if g.isAttached() {
					on = append(on, g)
				}
			}
		}
		if !known {
			return nil, errorf(CodeLoadBalancerNotFound, "One or more load balancers not found")
		}
		groups = on
	}
	slices.SortFunc(groups, func(a, b *targetGroup) int { return a.seq - b.seq })
	groups = slices.DeleteFunc(groups, func(g *targetGroup) bool { return g.seq <= after })
	var res targetGroupsResult
	if len(groups) > pageSize {
		res.NextMarker = formatMarker(groups[pageSize-1].seq)
		groups = groups[:pageSize]
	}
	for _, g := range groups {
		res.TargetGroups = append(res.TargetGroups, g.xmlOf())
	}
	return res, nil
}

// Markers are opaque to callers: the sequence number of the last group
// returned, base64-encoded.
func formatMarker(seq int) string {
	return base64.StdEncoding.EncodeToString([]byte("after:" + strconv.Itoa(seq)))
}

func parseMarker(m string) (int, error) {
	b, err := base64.StdEncoding.DecodeString(m)
	if err == nil {
		if s, ok := strings.CutPrefix(string(b), "after:"); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, errorf(CodeValidationError, "Invalid marker '%s'", m)
}

// describeTargetHealth serves DescribeTargetHealth: the listed targets, or
// every registered one.
func (e *Emulator) describeTargetHealth(f form) (any, error) {
	g, err := e.groupParam(f)
	if err != nil {
		return nil, err
	}
	refs, err := f.targets("Targets")
	if err != nil {
		return nil, err
	}
	keys, _, err := resolveAll(refs, g.spec.Port)
	if err != nil {
		return nil, err
	}
	descs, err := g.describe(keys)
	if err != nil {
		return nil, errorf(CodeInternalFailure, "%v", err)
	}
	var res targetHealthResult
	for _, d := range descs {
		var x targetHealthXML
		x.HealthCheckPort = strconv.Itoa(int(d.Key.Port))
		x.Target.ID, x.Target.Port = d.Key.Addr.String(), d.Key.Port
		x.Target.AvailabilityZone = d.Zone
		if d.Zone == "" {
			x.Target.AvailabilityZone = e.zone()
		}
		x.TargetHealth.State, x.TargetHealth.Reason, x.TargetHealth.Description = d.Health.State, d.Health.Reason, d.Health.Description
		res.TargetHealthDescriptions = append(res.TargetHealthDescriptions, x)
	}
	return res, nil
}

// zone is the availability zone of targets registered without one.
func (e *Emulator) zone() string { return e.cfg.Region + "a" }

// resolveAll validates targets and returns their keys and zones.
func resolveAll(refs []targetRef, defaultPort int32) ([]targetKey, []string, error) {
	keys := make([]targetKey, 0, len(refs))
	zones := make([]string, 0, len(refs))
	for _, r := range refs {
		k, err := r.resolve(defaultPort)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		zones = append(zones, r.AvailabilityZone)
	}
	return keys, zones, nil
}

// targetsParam returns the group and the non-empty, valid Targets list of a
// RegisterTargets or DeregisterTargets call.
func (e *Emulator) targetsParam(f form) (*targetGroup, []targetKey, []string, error) {
	g, err := e.groupParam(f)
	if err != nil {
		return nil, nil, nil, err
	}
	refs, err := f.targets("Targets")
	if err != nil {
		return nil, nil, nil, err
	}
	if len(refs) == 0 {
		return nil, nil, nil, errorf(CodeValidationError, "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null")
	}
	keys, zones, err := resolveAll(refs, g.spec.Port)
	if err != nil {
		return nil, nil, nil, err
	}
	return g, keys, zones, nil
}

// registerTargets serves RegisterTargets.
func (e *Emulator) registerTargets(f form) (any, error) {
	g, keys, zones, err := e.targetsParam(f)
	if err != nil {
		return nil, err
	}
	for i, z := range zones {
		if z == "" {
			zones[i] = e.zone()
		}
	}
	if err := g.register(keys, zones, e.cfg.RegistrationLag); err != nil {
		return nil, errorf(CodeInternalFailure, "%v", err)
	}
	return struct{}{}, nil
}

// deregisterTargets serves DeregisterTargets.
func (e *Emulator) deregisterTargets(f form) (any, error) {
	g, keys, _, err := e.targetsParam(f)
	if err != nil {
		return nil, err
	}
	if err := g.deregister(keys); err != nil {
		return nil, errorf(CodeInternalFailure, "%v", err)
	}
	return struct{}{}, nil
}

// createTargetGroupAction serves CreateTargetGroup for ip target groups
// with HTTP (application) or TCP (network) protocol and HTTP health checks,
// with AWS's ranges; the new group is on no load balancer.
func (e *Emulator) createTargetGroupAction(ctx context.Context, f form) (any, error) {
	name, err := f.required("Name")
	if err != nil {
		return nil, err
	}
	spec := TargetGroupSpec{Name: name, HealthCheckPath: f["HealthCheckPath"]}
	switch p := f["Protocol"]; p {
	case "HTTP":
		spec.LBType = LBApplication
	case "TCP":
		spec.LBType = LBNetwork
	default:
		return nil, errorf(CodeValidationError, "protocol %q is not supported by the emulator (HTTP or TCP)", p)
	}
	if t := f["TargetType"]; t != "ip" {
		return nil, errorf(CodeValidationError, "target type %q is not supported by the emulator (ip)", t)
	}
	if hp := f["HealthCheckProtocol"]; hp != "" && hp != "HTTP" {
		return nil, errorf(CodeValidationError, "health check protocol %q is not supported by the emulator (HTTP)", hp)
	}
	ints := []struct {
		param    string
		min, max int
		set      func(int)
	}{
		{"Port", 1, 65535, func(n int) { spec.Port = int32(n) }},
		{"HealthCheckIntervalSeconds", 5, 300, func(n int) { spec.HealthCheckInterval = time.Duration(n) * time.Second }},
		{"HealthCheckTimeoutSeconds", 2, 120, func(n int) { spec.HealthCheckTimeout = time.Duration(n) * time.Second }},
		{"HealthyThresholdCount", 2, 10, func(n int) { spec.HealthyThreshold = int32(n) }},
		{"UnhealthyThresholdCount", 2, 10, func(n int) { spec.UnhealthyThreshold = int32(n) }},
	}
	for _, p := range ints {
		s, ok := f[p.param]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < p.min || n > p.max {
			return nil, errorf(CodeValidationError, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value between %d and %d", s, lowerFirst(p.param), p.min, p.max)
		}
		p.set(n)
	}
	if spec.Port == 0 {
		return nil, errorf(CodeValidationError, "A port must be specified")
	}
	// AWS's default deregistration delay.
	spec.DeregistrationDelay = 300 * time.Second
	g, err := e.createTargetGroup(ctx, spec)
	if err != nil {
		if ae := (*apiError)(nil); errors.As(err, &ae) {
			return nil, ae
		}
		return nil, errorf(CodeInternalFailure, "%v", err)
	}
	return targetGroupsResult{TargetGroups: []targetGroupXML{g.xmlOf()}}, nil
}

// writeResult writes a successful response:
// <XResponse xmlns=...><XResult>...</XResult><ResponseMetadata>...
func writeResult(w http.ResponseWriter, action, requestID string, result any) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace}}}
	err := enc.EncodeToken(start)
	if err == nil {
		err = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		writeError(w, requestID, errorf(CodeInternalFailure, "encode %s response: %v", action, err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	_, _ = w.Write(b.Bytes())
}

// writeError writes an ErrorResponse; errors that are not API errors are
// InternalFailure.
func writeError(w http.ResponseWriter, requestID string, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(CodeInternalFailure, "%v", err)
	}
	var r errorResponse
	r.Xmlns, r.RequestID = namespace, requestID
	r.Error.Type, r.Error.Code, r.Error.Message = ae.faultType(), ae.Code, ae.Message
	b, mErr := xml.Marshal(r)
	if mErr != nil {
		b = []byte(fmt.Sprintf("<ErrorResponse><Error><Code>%s</Code></Error></ErrorResponse>", CodeInternalFailure))
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(ae.Status)
	_, _ = w.Write(b)
}
