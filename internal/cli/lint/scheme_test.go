package lint

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

func cliScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := zdv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
