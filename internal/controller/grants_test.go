package controller

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

func grantLB(grants ...v1alpha1.BindingGrant) *v1alpha1.LoadBalancer {
	return &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "edge"}, Spec: v1alpha1.LoadBalancerSpec{AllowedBindings: grants}}
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestAllowed(t *testing.T) {
	all := v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromAll}
	names := func(n ...string) v1alpha1.NamespaceGrant {
		return v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromNames, Names: n}
	}
	selector := func(ml map[string]string) v1alpha1.NamespaceGrant {
		return v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromSelector, Selector: &metav1.LabelSelector{MatchLabels: ml}}
	}
	shop := namespace("shop", map[string]string{"team": "shop"})
	tests := []struct {
		name       string
		lb         *v1alpha1.LoadBalancer
		ns         *corev1.Namespace
		backend    string
		wantOK     bool
		wantReason string
		wantInMsg  []string
	}{
		{name: "no grants admit nothing (the default)", lb: grantLB(), ns: shop, backend: "web",
			wantReason: v1alpha1.ReasonNamespaceNotAllowed, wantInMsg: []string{`"edge"`, "spec.allowedBindings is empty"}},
		{name: "from All admits any namespace and, without backends, any backend",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: all}), ns: shop, backend: "web",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted, wantInMsg: []string{"spec.allowedBindings[0]"}},
		{name: "from Names admits a listed namespace",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: names("pay", "shop")}), ns: shop, backend: "web",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted},
		{name: "from Names does not admit an unlisted namespace",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: names("pay")}), ns: shop, backend: "web",
			wantReason: v1alpha1.ReasonNamespaceNotAllowed, wantInMsg: []string{`"edge"`, `"shop"`, "spec.allowedBindings[*].namespaces"}},
		{name: "from Selector admits a namespace whose labels match",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: selector(map[string]string{"team": "shop"})}), ns: shop, backend: "web",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted},
		{name: "from Selector does not admit a namespace whose labels do not match",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: selector(map[string]string{"team": "pay"})}), ns: shop, backend: "web",
			wantReason: v1alpha1.ReasonNamespaceNotAllowed},
		{name: "from Selector with an empty selector admits every namespace",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: selector(nil)}), ns: namespace("other", nil), backend: "web",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted},
		{name: "from Selector without a selector admits nothing",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromSelector}}), ns: shop, backend: "web",
			wantReason: v1alpha1.ReasonNamespaceNotAllowed},
		{name: "an invalid selector admits nothing and is named",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromSelector,
				Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}}}),
			ns: shop, backend: "web",
			wantReason: v1alpha1.ReasonNamespaceNotAllowed, wantInMsg: []string{"spec.allowedBindings[0].namespaces.selector"}},
		{name: "an unknown from admits nothing",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: v1alpha1.NamespaceGrant{From: "Same"}}), ns: shop, backend: "web",
			wantReason: v1alpha1.ReasonNamespaceNotAllowed},
		{name: "no namespace is admitted by nothing, not even All",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: all}), ns: nil, backend: "web",
			wantReason: v1alpha1.ReasonNamespaceNotAllowed},
		{name: "a listed backend is admitted",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: all, Backends: []string{"api", "web"}}), ns: shop, backend: "web",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted},
		{name: "a backend matching a prefix pattern is admitted",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: all, Backends: []string{"shop-*"}}), ns: shop, backend: "shop-web",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted},
		{name: "a lone star admits every backend",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: all, Backends: []string{"*"}}), ns: shop, backend: "anything",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted},
		{name: "a backend the grant does not list is not admitted, naming the field",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: all, Backends: []string{"shop-*", "web"}}), ns: shop, backend: "pay-web",
			wantReason: v1alpha1.ReasonBackendNotAllowed, wantInMsg: []string{`"edge"`, `"pay-web"`, "spec.allowedBindings[0].backends"}},
		{name: "a name without star is exact, not a prefix",
			lb: grantLB(v1alpha1.BindingGrant{Namespaces: all, Backends: []string{"web"}}), ns: shop, backend: "web2",
			wantReason: v1alpha1.ReasonBackendNotAllowed},
		{name: "each team is held to its own grant's backends",
			lb: grantLB(
				v1alpha1.BindingGrant{Namespaces: names("shop"), Backends: []string{"shop-*"}},
				v1alpha1.BindingGrant{Namespaces: names("pay"), Backends: []string{"pay-*"}}),
			ns: shop, backend: "pay-web",
			wantReason: v1alpha1.ReasonBackendNotAllowed, wantInMsg: []string{"spec.allowedBindings[0].backends"}},
		{name: "a later grant can admit what an earlier one does not",
			lb: grantLB(
				v1alpha1.BindingGrant{Namespaces: names("shop"), Backends: []string{"shop-*"}},
				v1alpha1.BindingGrant{Namespaces: selector(map[string]string{"team": "shop"}), Backends: []string{"shared"}}),
			ns: shop, backend: "shared",
			wantOK: true, wantReason: v1alpha1.ReasonAccepted, wantInMsg: []string{"spec.allowedBindings[1]"}},
		{name: "backend refusal names every grant that admits the namespace",
			lb: grantLB(
				v1alpha1.BindingGrant{Namespaces: names("shop"), Backends: []string{"a"}},
				v1alpha1.BindingGrant{Namespaces: names("pay"), Backends: []string{"b"}},
				v1alpha1.BindingGrant{Namespaces: all, Backends: []string{"c"}}),
			ns: shop, backend: "web",
			wantReason: v1alpha1.ReasonBackendNotAllowed, wantInMsg: []string{"spec.allowedBindings[0].backends, spec.allowedBindings[2].backends"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason, msg := Allowed(tt.lb, tt.ns, tt.backend)
			if ok != tt.wantOK || reason != tt.wantReason {
				t.Fatalf("Allowed = %v, %q (%s); want %v, %q", ok, reason, msg, tt.wantOK, tt.wantReason)
			}
			for _, s := range tt.wantInMsg {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not mention %q", msg, s)
				}
			}
		})
	}
}
