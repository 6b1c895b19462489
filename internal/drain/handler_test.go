package drain

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// TestAnswer_staleCache: the kubelet may run the preStop before the
// controller's cache has seen the deletion. The answer must then come from
// the API server's copy, not the cache's "not terminating".
func TestAnswer_staleCache(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	serving := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1"}}
	terminating := serving.DeepCopy()
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	terminating.Finalizers = []string{"test.zerodrop.dev/hold"} // the fake refuses a deleted object without one
	id := PodIdentity{Namespace: "shop", Name: "web-1", UID: "u1"}
	cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(serving).Build()
	api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(terminating).Build()

	for _, tc := range []struct {
		name   string
		reader client.Reader
		want   string
	}{
		{name: "without an API reader the stale cache answers", reader: nil, want: ReasonNotTerminating},
		{name: "with an API reader the deletion is seen", reader: api, want: ReasonNoBinding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{Client: cache, APIReader: tc.reader}
			ans, err := h.Answer(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if ans.Reason != tc.want {
				t.Errorf("reason %q, want %q", ans.Reason, tc.want)
			}
		})
	}
}
