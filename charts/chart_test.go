package charts

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	zdlint "github.com/zerodrop/zerodrop/internal/lint"
	"github.com/zerodrop/zerodrop/internal/monitoring"
)

// chartPath is the chart's directory, from this package's.
const chartPath = Name

// testRelease is the release every case is rendered as.
var testRelease = Release{Name: "zerodrop", Namespace: "zerodrop-system"}

// valuesCase is one documented combination of values (docs/install.md).
type valuesCase struct {
	name   string
	values string
	// want are strings the rendered YAML must hold; notWant must not.
	want, notWant []string
	// lintWarns are the zerodrop lint rules that must warn (the case
	// gives up something on purpose); no other rule may.
	lintWarns []string
}

// valuesCases are the combinations of values the chart supports.
var valuesCases = []valuesCase{
	{name: "default", values: ``,
		want: []string{
			"replicas: 2", "--leader-elect=true", "--self-signed-certs", "kind: PodDisruptionBudget", "minAvailable: 1",
			"topologyKey: kubernetes.io/hostname", "failurePolicy: Ignore", "image: ghcr.io/zerodrop/zerodrop:v0.1.0",
			"--injector-image=ghcr.io/zerodrop/zerodrop:v0.1.0",
			"--cert-dns-names=zerodrop-webhook.zerodrop-system.svc,zerodrop-drain.zerodrop-system.svc",
			"--drain-endpoint=https://zerodrop-drain.zerodrop-system.svc:9444/v1/drained",
			"name: zerodrop-leader-election", "name: zerodrop-certs", "name: zerodrop-view",
		},
		notWant: []string{"cert-manager.io", "caBundle"}},
	{name: "cert-manager with its own self-signed CA", values: `certManager: {enabled: true}`,
		want: []string{
			"kind: Certificate", "kind: Issuer", "selfSigned: {}", "isCA: true",
			"cert-manager.io/inject-ca-from: zerodrop-system/zerodrop-serving", "--drain-ca-file=/certs/ca.crt",
			"secretName: zerodrop-tls", "- zerodrop-drain.zerodrop-system.svc",
		},
		notWant: []string{"--self-signed-certs", "name: zerodrop-certs"}},
	{name: "cert-manager with an existing ClusterIssuer", values: `certManager: {enabled: true, issuerRef: {name: corp-ca, kind: ClusterIssuer}}`,
		want:    []string{"kind: ClusterIssuer", "name: corp-ca", "cert-manager.io/inject-ca-from"},
		notWant: []string{"selfSigned: {}", "--self-signed-certs"}},
	{name: "one replica without leader election", values: `{replicas: 1, leaderElection: {enabled: false}}`,
		want:      []string{"replicas: 1", "--leader-elect=false"},
		notWant:   []string{"kind: PodDisruptionBudget", "name: zerodrop-leader-election"},
		lintWarns: []string{"ZD405"}}, // one replica: no endpoint while it is replaced
	{name: "custom image pinned by digest", values: `image: {repository: registry.example/zerodrop, digest: "sha256:` + strings.Repeat("ab", 32) + `"}`,
		want: []string{"image: registry.example/zerodrop@sha256:" + strings.Repeat("ab", 32), "--injector-image=registry.example/zerodrop@sha256:"}},
	{name: "custom image tag and injector image", values: `{image: {repository: registry.example/zerodrop, tag: v9.9.9, pullPolicy: Always}, injector: {image: "registry.example/zd-init:v1"}}`,
		want: []string{"image: registry.example/zerodrop:v9.9.9", "imagePullPolicy: Always", "--injector-image=registry.example/zd-init:v1"}},
	{name: "resources", values: `{resources: {requests: {cpu: 250m, memory: 200Mi}, limits: {cpu: 1, memory: 400Mi}}, injector: {resources: {requests: {cpu: 5m, memory: 8Mi}, limits: {cpu: "", memory: 32Mi}}}}`,
		want: []string{"cpu: 250m", "memory: 400Mi", "--injector-cpu-request=5m", "--injector-cpu-limit=", "--injector-memory-limit=32Mi"}},
	{name: "scheduling", values: `{nodeSelector: {node-role.example/infra: "true"}, tolerations: [{key: infra, operator: Exists, effect: NoSchedule}], priorityClassName: system-cluster-critical}`,
		want: []string{"node-role.example/infra: \"true\"", "key: infra", "priorityClassName: system-cluster-critical", "topologyKey: kubernetes.io/hostname"}},
	{name: "own affinity", values: `affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app.kubernetes.io/name: zerodrop}}}]}}`,
		want:    []string{"requiredDuringSchedulingIgnoredDuringExecution", "topology.kubernetes.io/zone"},
		notWant: []string{"preferredDuringSchedulingIgnoredDuringExecution"}},
	{name: "cluster ID, three replicas, flags and labels", values: `{replicas: 3, clusterID: eu-1, logLevel: 1, extraArgs: [--poll-interval=200ms], podLabels: {team: platform}, podAnnotations: {a.example/b: c}, serviceAccount: {annotations: {iam.example/role: zd}}, imagePullSecrets: [{name: regcred}]}`,
		want: []string{"replicas: 3", "--cluster-id=eu-1", "--v=1", `- "--poll-interval=200ms"`, "team: platform", "a.example/b: c", "iam.example/role: zd", "name: regcred"}},
	{name: "short-lived self-managed certificates", values: `certs: {validity: 24h, caValidity: 720h}`,
		want: []string{"--cert-validity=24h", "--ca-validity=720h"}},
	{name: "other ports, no aggregated roles, no PDB", values: `{webhook: {port: 10443}, drain: {port: 10444}, metrics: {port: 18080}, rbac: {aggregateRoles: false}, podDisruptionBudget: {enabled: false}}`,
		want:      []string{"--webhook-port=10443", "containerPort: 10443", "--drain-endpoint=https://zerodrop-drain.zerodrop-system.svc:10444/v1/drained", "port: 10444", "--metrics-bind-address=:18080"},
		notWant:   []string{"zerodrop-view", "kind: PodDisruptionBudget"},
		lintWarns: []string{"ZD401"}}, // no PDB: a drain may evict both replicas
	{name: "monitoring: ServiceMonitor, PrometheusRule and dashboard", values: `monitoring: {serviceMonitor: {enabled: true, interval: 15s, additionalLabels: {release: kube-prometheus}}, prometheusRule: {enabled: true, severity: critical, additionalLabels: {release: kube-prometheus}, alerts: {gatePendingPeriods: 5}}, dashboard: {enabled: true, namespace: grafana, annotations: {grafana_folder: zerodrop}}}`,
		want: []string{"kind: ServiceMonitor", "interval: 15s", "release: kube-prometheus", "kind: PrometheusRule", "severity: critical",
			"> 5 * max by (namespace, binding) (zerodrop_binding_check_interval_seconds)", "grafana_dashboard: \"1\"", "namespace: grafana", "grafana_folder: zerodrop",
			"name: zerodrop-metrics", "zerodrop.dev/service: metrics"},
		notWant: []string{"ZD_SEVERITY", "ZD_GATE_PENDING_PERIODS"}},
}

// badValuesCases are values the chart refuses, each with what the message
// must name.
var badValuesCases = []struct {
	name, values, want string
}{
	{"replicas of the wrong type", `replicas: two`, "/replicas"},
	{"no replica", `replicas: 0`, "/replicas"},
	{"moving tag", `image: {tag: latest}`, "/image/tag"},
	{"digest that is not sha256", `image: {digest: "md5:abc"}`, "/image/digest"},
	{"failurePolicy cannot be set: a webhook that is down never blocks pods", `webhook: {failurePolicy: Fail}`, "failurePolicy"},
	{"quantity of the wrong type", `resources: {requests: {cpu: true}}`, "/resources/requests/cpu"},
	{"validity that is not a duration", `certs: {validity: "90 days"}`, "/certs/validity"},
	{"misspelt key", `replica: 3`, "replica"},
	{"pull policy out of its enum", `image: {pullPolicy: Sometimes}`, "/image/pullPolicy"},
	{"issuer kind out of its enum", `certManager: {enabled: true, issuerRef: {name: x, kind: Vault}}`, "/certManager/issuerRef/kind"},
	{"several replicas without leader election", `{replicas: 2, leaderElection: {enabled: false}}`, "replicas > 1 needs leaderElection.enabled"},
	{"no gate-pending periods", `monitoring: {prometheusRule: {alerts: {gatePendingPeriods: 0}}}`, "/monitoring/prometheusRule/alerts/gatePendingPeriods"},
	{"scrape interval that is not a Prometheus duration", `monitoring: {serviceMonitor: {interval: "30 seconds"}}`, "/monitoring/serviceMonitor/interval"},
}

func parseValues(t *testing.T, s string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("values %q: %v", s, err)
	}
	return v
}

func render(t *testing.T, values string) Rendered {
	t.Helper()
	ch, err := Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(ch, testRelease, parseValues(t, values))
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return r
}

// decoder decodes strictly (unknown fields are errors) every kind the
// chart renders but cert-manager's.
func decoder(t *testing.T) runtime.Decoder {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}

// objects splits the rendered YAML into its documents, decoded strictly
// into their Go types where the scheme knows them.
func objects(t *testing.T, r Rendered) []runtime.Object {
	t.Helper()
	dec := decoder(t)
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(r.YAML())))
	var objs []runtime.Object
	for {
		doc, err := rd.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			u := &unstructured.Unstructured{}
			if err := yaml.UnmarshalStrict(doc, &u.Object); err != nil {
				t.Fatalf("document does not decode: %v\n%s", err, doc)
			}
			switch {
			case strings.HasPrefix(u.GetAPIVersion(), "cert-manager.io/"):
			case u.GetKind() == "PrometheusRule":
				// The Prometheus Operator's own type, strictly, then
				// Prometheus' rule parser.
				pr, err := monitoring.DecodePrometheusRule(doc)
				if err != nil {
					t.Fatalf("%v\n%s", err, doc)
				}
				if _, err := monitoring.Rules(pr); err != nil {
					t.Fatal(err)
				}
			case u.GetKind() == "ServiceMonitor":
				if _, err := monitoring.DecodeServiceMonitor(doc); err != nil {
					t.Fatalf("%v\n%s", err, doc)
				}
			default:
				t.Fatalf("unexpected kind %s %s", u.GetAPIVersion(), u.GetKind())
			}
			objs = append(objs, u)
			continue
		}
		if err != nil {
			t.Fatalf("document does not decode strictly: %v\n%s", err, doc)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		t.Fatal("nothing rendered")
	}
	return objs
}

func TestRender_valuesCombinations(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			// helm lint, with the same values.
			l := lint.AllWithKubeVersion(chartPath, parseValues(t, tc.values), testRelease.Namespace, kv)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %v", m)
				}
			}
			r := render(t, tc.values)
			out := r.YAML()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("rendered YAML lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("rendered YAML holds %q", w)
				}
			}
			if !strings.Contains(r.Notes, "zerodrop.dev/readiness-gate-inject=enabled") {
				t.Errorf("NOTES.txt does not say how to opt a namespace in")
			}
			objs := objects(t, r)
			checkDeployment(t, objs)
			checkZerodropLint(t, out, tc.lintWarns)
		})
	}
}

// checkDeployment checks what the Deployment must always be: pinned image,
// PodSecurity restricted, probes.
func checkDeployment(t *testing.T, objs []runtime.Object) {
	t.Helper()
	var deps []*appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			deps = append(deps, d)
		}
	}
	if len(deps) != 1 {
		t.Fatalf("%d Deployments rendered, want 1", len(deps))
	}
	spec := deps[0].Spec.Template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v is not restricted (non-root 65532, seccomp RuntimeDefault)", psc)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s securityContext %+v is not restricted", c.Name, sc)
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("container %s lacks probes", c.Name)
		}
		if c.Resources.Requests.Memory().IsZero() {
			t.Errorf("container %s requests no memory", c.Name)
		}
	}
}

// checkZerodropLint runs zerodrop's own linter over the rendered YAML: the
// rules in warns warn, no other rule warns or errs.
func checkZerodropLint(t *testing.T, out string, warns []string) {
	t.Helper()
	d, err := zdlint.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := d.Decode("rendered.yaml", []byte(out))
	for _, e := range errs {
		t.Errorf("zerodrop lint cannot read the output: %v", e)
	}
	res := zdlint.Lint(objs, false, nil)
	fired := map[string]bool{}
	for _, f := range res.Findings {
		if f.Severity < zdlint.SeverityWarning {
			continue
		}
		fired[f.RuleID] = true
		if !slices.Contains(warns, f.RuleID) {
			t.Errorf("zerodrop lint: %s %s %s: %s", f.RuleID, f.Severity, f.Object, f.Message)
		}
	}
	for _, w := range warns {
		if !fired[w] {
			t.Errorf("zerodrop lint: %s did not warn", w)
		}
	}
}

func TestRender_refusesBadValues(t *testing.T) {
	ch, err := Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range badValuesCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(ch, testRelease, parseValues(t, tc.values))
			if err == nil {
				t.Fatalf("values %s rendered, want an error naming %s", tc.values, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

// TestRender_crdsAreConfigCRDs proves the chart ships the CRDs of
// config/crd (hack/genchart copies them; make verify catches drift).
func TestRender_crdsAreConfigCRDs(t *testing.T) {
	r := render(t, "")
	if len(r.CRDs) != 2 {
		t.Fatalf("%d CRDs in the chart, want 2", len(r.CRDs))
	}
	for _, c := range r.CRDs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(c.File.Data, crd); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if crd.Spec.Group != v1alpha1.GroupVersion.Group {
			t.Errorf("%s: group %s", c.Name, crd.Spec.Group)
		}
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
