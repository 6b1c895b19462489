package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
	zlint "github.com/zerodrop/zerodrop/internal/lint"
)

// run executes `lint args...` and returns stdout and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := NewCommand(context.Background())
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	code := 0
	if err != nil {
		var ec interface{ ExitCode() int }
		code = 1
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
	}
	return out.String(), code
}

const corpus = "../../lint/testdata"

func TestNewCommand_exitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"clean file", []string{filepath.Join(corpus, "seeds", "seed001-pdb-v1beta1.yaml"), "--fail-on", "error", "--config", "testdata/no-v1beta1.yaml"}, ExitClean, "0 error(s)"},
		{"error finding", []string{filepath.Join(corpus, "seeds", "seed001-pdb-v1beta1.yaml")}, ExitFindings, "ZD403"},
		{"warning below --fail-on error", []string{filepath.Join(corpus, "rules", "ZD401", "fail.yaml"), "--fail-on", "error"}, ExitClean, "ZD401"},
		{"warning at --fail-on warning", []string{filepath.Join(corpus, "rules", "ZD401", "fail.yaml")}, ExitFindings, "ZD401"},
		{"input error still checks the rest", []string{filepath.Join(corpus, "bad")}, ExitUsage, "ZD601"},
		{"no input", nil, ExitUsage, ""},
		{"bad format", []string{"-o", "yaml", "x.yaml"}, ExitUsage, ""},
		{"explain", []string{"--explain", "ZD203"}, ExitClean, "preStop + shutdownSeconds + bufferSeconds"},
		{"explain unknown", []string{"--explain", "ZD999"}, ExitUsage, ""},
		{"stdin", []string{"-", "-o", "json"}, ExitFindings, `"ruleId": "ZD601"`},
	}
	stdin, err := os.ReadFile(filepath.Join(corpus, "rules", "ZD601", "fail.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, string(stdin), tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s", code, tt.code, tt.want, out)
			}
			if strings.Contains(out, "\x1b[") {
				t.Error("colour written to a non-terminal")
			}
		})
	}
}

// TestNewCommand_liveCluster runs lint against a real API server (envtest)
// through a kubeconfig written for it.
func TestNewCommand_liveCluster(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets, _ = filepath.Abs("../../../bin")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		t.Skipf("no kube-apiserver in %s (set KUBEBUILDER_ASSETS): %v", assets, err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{"../../../config/crd"},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	user, err := env.AddUser(envtest.User{Name: "lint-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scheme := cliScheme(t)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
			}
		}
	}
	grace := int64(60)
	podSpec := func(gated bool) corev1.PodSpec {
		s := corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "web", Image: "example/web:1",
				Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}},
			}},
		}
		if gated {
			s.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(zdv1alpha1.GateConditionType("web"))}}
		}
		return s
	}
	one := intstr.FromInt32(1)
	replicas := int32(2)
	for _, ns := range []struct {
		name    string
		labeled bool
	}{{"shop", true}, {"plain", false}} {
		nsLabels := map[string]string{}
		if ns.labeled {
			nsLabels[zdv1alpha1.LabelInject] = zdv1alpha1.LabelInjectEnabled
		}
		create(
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: nsLabels}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.name}, Spec: appsv1.DeploymentSpec{
				Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(false)}}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.name}, Spec: corev1.ServiceSpec{
				Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: ns.name}, Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "gone"}, Ports: []corev1.ServicePort{{Port: 80}}}},
			&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.name}, Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}}},
			&zdv1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.name}, Spec: zdv1alpha1.TargetBindingSpec{
				ServiceRef: zdv1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}, LoadBalancerRef: "edge", Backend: "web"}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-gated", Namespace: ns.name, Labels: labels}, Spec: podSpec(true)},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-ungated", Namespace: ns.name, Labels: labels}, Spec: podSpec(false)},
		)
	}
	if _, err := cs.CoreV1().Pods("shop").Get(ctx, "web-ungated", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// A ReplicaSet the Deployment owns is checked through the Deployment; a
	// ReplicationController is a workload of its own, and its Service
	// selects it (no ZD601).
	dep, err := cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	isController := true
	legacy := map[string]string{"app": "legacy"}
	create(
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: &isController}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(false)}}},
		&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "shop"}, Spec: corev1.ReplicationControllerSpec{
			Replicas: &replicas, Selector: legacy,
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: legacy}, Spec: podSpec(false)}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "shop"}, Spec: corev1.ServiceSpec{
			Selector: legacy, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
	)

	out, code := run(t, "", "--kubeconfig", kcPath, "-n", "shop", "-o", "json")
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitFindings, out)
	}
	var rep zlint.JSONReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	byRule := map[string][]zlint.Finding{}
	for _, f := range rep.Findings {
		if f.Object.Namespace != "shop" {
			t.Errorf("namespace-scoped run reported %s", f.Object)
		}
		byRule[f.RuleID] = append(byRule[f.RuleID], f)
	}
	gate := byRule["ZD503"]
	if len(gate) != 1 || !strings.Contains(gate[0].Message, "web-ungated") || strings.Contains(gate[0].Message, "web-gated,") ||
		strings.Contains(gate[0].Message, ": web-gated") || gate[0].Object.Kind != "TargetBinding" {
		t.Errorf("ZD503 = %+v, want one finding on the TargetBinding naming only web-ungated", gate)
	}
	orphan := byRule["ZD601"]
	if len(orphan) != 1 || orphan[0].Object.Name != "orphan" || !strings.Contains(orphan[0].Message, "no pod in the cluster") {
		t.Errorf("ZD601 = %+v, want the orphan Service", orphan)
	}
	for _, f := range byRule["ZD201"] {
		if f.Object.Kind != "ReplicationController" {
			t.Errorf("ZD201 reported although zerodrop injects the preStop in shop: %+v", f)
		}
	}
	if f := byRule["ZD201"]; len(f) != 1 || f[0].Object.Name != "legacy" {
		t.Errorf("ZD201 = %+v, want the ReplicationController legacy (no TargetBinding injects its preStop)", f)
	}
	for _, f := range rep.Findings {
		if f.Object.Kind == "ReplicaSet" {
			t.Errorf("finding on a ReplicaSet the Deployment owns: %+v", f)
		}
	}

	// Every namespace: the unlabelled one has no gate promise (no ZD503) but
	// no injected preStop either (ZD201).
	out, code = run(t, "", "--kubeconfig", kcPath, "-A", "-o", "json")
	if code != ExitFindings {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	rep = zlint.JSONReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range rep.Findings {
		ns := f.Object.Namespace
		if f.Object.Kind == "Namespace" {
			ns = f.Object.Name
		}
		if f.Object.Name == "legacy" {
			continue // the ReplicationController checked above
		}
		seen[f.RuleID+"/"+ns] = true
	}
	for _, want := range []string{"ZD503/shop", "ZD201/plain", "ZD502/plain", "ZD601/plain"} {
		if !seen[want] {
			t.Errorf("all namespaces: missing %s in %v", want, seen)
		}
	}
	for _, unwanted := range []string{"ZD503/plain", "ZD201/shop", "ZD502/shop"} {
		if seen[unwanted] {
			t.Errorf("all namespaces: unexpected %s", unwanted)
		}
	}
}
