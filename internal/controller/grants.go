package controller

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// Allowed decides whether the grants of lb (spec.allowedBindings) admit a
// TargetBinding in namespace ns that names backend: some grant must admit
// both the namespace and the backend. It returns the reason and message of
// the binding's Accepted condition; the message names the load balancer
// and the grant fields that decided. A load balancer without grants admits
// nothing, and so does a grant whose selector does not parse.
func Allowed(lb *v1alpha1.LoadBalancer, ns *corev1.Namespace, backend string) (ok bool, reason, message string) {
	if len(lb.Spec.AllowedBindings) == 0 {
		return false, v1alpha1.ReasonNamespaceNotAllowed,
			fmt.Sprintf("load balancer %q grants no namespace: its spec.allowedBindings is empty", lb.Name)
	}
	var nsName string
	var nsLabels labels.Set
	if ns != nil {
		nsName, nsLabels = ns.Name, ns.Labels
	}
	var backendFields, invalid []string
	for i, g := range lb.Spec.AllowedBindings {
		field := fmt.Sprintf("spec.allowedBindings[%d]", i)
		in, err := namespaceGranted(g.Namespaces, nsName, nsLabels)
		if err != nil {
			invalid = append(invalid, fmt.Sprintf("%s.namespaces.selector: %v", field, err))
			continue
		}
		if !in {
			continue
		}
		if backendGranted(g.Backends, backend) {
			return true, v1alpha1.ReasonAccepted,
				fmt.Sprintf("load balancer %q admits namespace %q and backend %q by %s", lb.Name, nsName, backend, field)
		}
		backendFields = append(backendFields, field+".backends")
	}
	if len(backendFields) > 0 {
		return false, v1alpha1.ReasonBackendNotAllowed,
			fmt.Sprintf("load balancer %q admits namespace %q but not backend %q: it is not in %s",
				lb.Name, nsName, backend, strings.Join(backendFields, ", "))
	}
	msg := fmt.Sprintf("load balancer %q does not admit namespace %q: no spec.allowedBindings[*].namespaces matches it", lb.Name, nsName)
	if len(invalid) > 0 {
		msg += " (ignored, invalid: " + strings.Join(invalid, "; ") + ")"
	}
	return false, v1alpha1.ReasonNamespaceNotAllowed, msg
}

// namespaceGranted reports whether g admits the namespace named name with
// labels set.
func namespaceGranted(g v1alpha1.NamespaceGrant, name string, set labels.Set) (bool, error) {
	switch g.From {
	case v1alpha1.NamespacesFromAll:
		return name != "", nil
	case v1alpha1.NamespacesFromNames:
		return name != "" && slices.Contains(g.Names, name), nil
	case v1alpha1.NamespacesFromSelector:
		if g.Selector == nil {
			return false, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(g.Selector)
		if err != nil {
			return false, fmt.Errorf("parsing selector: %w", err)
		}
		return name != "" && sel.Matches(set), nil
	}
	return false, nil
}

// backendGranted reports whether patterns admit backend: no pattern admits
// every backend, and a pattern ending in "*" admits the backends it
// prefixes.
func backendGranted(patterns []string, backend string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(backend, prefix) {
				return true
			}
		} else if p == backend {
			return true
		}
	}
	return false
}
