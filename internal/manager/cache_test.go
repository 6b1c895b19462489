package manager

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestTrimPod(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	grace := int64(60)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: corev1.PodSpec{
			NodeName:                      "n1",
			TerminationGracePeriodSeconds: &grace,
			ReadinessGates:                []corev1.PodReadinessGate{{ConditionType: "zerodrop.dev/web"}},
			Volumes:                       []corev1.Volume{{Name: "v"}},
			InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always,
				Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001}}, Env: []corev1.EnvVar{{Name: "X"}}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "app:1", Command: []string{"/app"}, Env: []corev1.EnvVar{{Name: "SECRET", Value: "x"}},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/zerodrop", "wait-drained"}}}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "v", MountPath: "/v"}},
			}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			Conditions:        []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app"}},
		},
	}
	got, err := trimPod(pod.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	p := got.(*corev1.Pod)
	if p.ManagedFields != nil || p.Spec.Volumes != nil || p.Spec.Containers[0].Env != nil || p.Spec.Containers[0].VolumeMounts != nil ||
		p.Spec.Containers[0].Command != nil || p.Spec.InitContainers[0].Env != nil || p.Status.ContainerStatuses != nil {
		t.Errorf("trimPod kept what no reconciler reads: %+v", p)
	}
	// What the reconcilers, the drain endpoint and reports read stays.
	if p.Labels["app"] != "web" || p.Annotations["a"] != "b" || p.Spec.NodeName != "n1" || *p.Spec.TerminationGracePeriodSeconds != 60 ||
		len(p.Spec.ReadinessGates) != 1 || p.Spec.Containers[0].Ports[0].Name != "http" || p.Spec.Containers[0].Lifecycle == nil ||
		p.Spec.Containers[0].ReadinessProbe == nil || p.Spec.InitContainers[0].RestartPolicy == nil || p.Spec.InitContainers[0].Ports[0].ContainerPort != 15001 ||
		p.Status.PodIP != "10.0.0.1" || len(p.Status.PodIPs) != 1 || p.Status.Phase != corev1.PodRunning || len(p.Status.Conditions) != 1 {
		t.Errorf("trimPod dropped what the controller reads: %+v", p)
	}
	if o, err := trimPod("tombstone"); err != nil || o != "tombstone" {
		t.Errorf("trimPod(non-pod) = %v, %v; want it unchanged", o, err)
	}
}
