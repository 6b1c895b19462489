package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of this API.
var GroupVersion = schema.GroupVersion{Group: "zerodrop.dev", Version: "v1alpha1"}

// AddToScheme adds this API's types to s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&LoadBalancer{}, &LoadBalancerList{},
		&TargetBinding{}, &TargetBindingList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
