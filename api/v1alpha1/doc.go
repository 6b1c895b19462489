// Package v1alpha1 holds zerodrop's API, group zerodrop.dev, version v1alpha1:
// the cluster-scoped LoadBalancer (which load balancer, and how to reach each
// of its instances) and the namespaced TargetBinding (which Service port feeds
// which backend on a LoadBalancer, with what health-check and drain settings).
//
// +kubebuilder:object:generate=true
// +groupName=zerodrop.dev
package v1alpha1
