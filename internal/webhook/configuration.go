package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// Names of the webhook and where it is served.
const (
	// ConfigurationName names the MutatingWebhookConfiguration.
	ConfigurationName = "zerodrop"
	// PodWebhookName names the pod webhook inside it.
	PodWebhookName = "pods.zerodrop.dev"
	// PodMutatePath is the path the pod mutator is served on.
	PodMutatePath = "/mutate-v1-pod"
)

// Configuration returns the MutatingWebhookConfiguration for the pod
// mutator. clientConfig says how the API server reaches the webhook (a
// Service in the cluster, or a URL for local runs). Only pods created in
// namespaces labelled zerodrop.dev/readiness-gate-inject=enabled are sent,
// and a webhook that is down never blocks pod creation (failurePolicy
// Ignore): such pods show up as missing their gate on the binding.
func Configuration(clientConfig admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.MutatingWebhookConfiguration {
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	never := admissionregistrationv1.NeverReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	timeout := int32(5)
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    PodWebhookName,
			ClientConfig:            clientConfig,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &ignore,
			MatchPolicy:             &equivalent,
			ReinvocationPolicy:      &never,
			TimeoutSeconds:          &timeout,
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				v1alpha1.LabelInject: v1alpha1.LabelInjectEnabled,
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				},
			}},
		}},
	}
}
