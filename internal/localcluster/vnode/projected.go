package vnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// rootCAConfigMap is the ConfigMap every namespace gets with the cluster CA
// (the root-ca-certificate-publisher controller); the ServiceAccount
// admission plugin projects it as ca.crt.
const rootCAConfigMap = "kube-root-ca.crt"

// projectVolume fills the host directory of a projected volume as kubelet's
// projected volume plugin does, for the sources a virtual node supports:
// each serviceAccountToken source gets its own TokenRequest (the source's
// audience, expiration, bound to the pod) written at its path; the
// kube-root-ca.crt ConfigMap gets the cluster CA; downwardAPI items get the
// pod fields the node can resolve. Other sources are left out.
func (a *Agent) projectVolume(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource, dir string) error {
	if dir == "" {
		return fmt.Errorf("projected volume has no host directory")
	}
	files := map[string][]byte{}
	for _, src := range p.Sources {
		switch {
		case src.ServiceAccountToken != nil:
			token, err := a.projectedToken(ctx, pod, src.ServiceAccountToken)
			if err != nil {
				return err
			}
			files[src.ServiceAccountToken.Path] = []byte(token)
		case src.ConfigMap != nil && src.ConfigMap.Name == rootCAConfigMap:
			if len(src.ConfigMap.Items) == 0 {
				files["ca.crt"] = a.opts.CAData
			}
			for _, it := range src.ConfigMap.Items {
				if it.Key == "ca.crt" {
					files[it.Path] = a.opts.CAData
				}
			}
		case src.DownwardAPI != nil:
			f := podFields{
				name: pod.Name, namespace: pod.Namespace, uid: string(pod.UID), nodeName: pod.Spec.NodeName,
				serviceAccount: pod.Spec.ServiceAccountName, labels: pod.Labels, annotations: pod.Annotations,
			}
			for _, it := range src.DownwardAPI.Items {
				if it.FieldRef == nil {
					continue
				}
				if v, ok := f.field(it.FieldRef.FieldPath); ok {
					files[it.Path] = []byte(v)
				}
			}
		}
	}
	for rel, data := range files {
		path := filepath.Join(dir, filepath.Clean("/"+rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("creating directory of projected file %s: %w", rel, err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("writing projected file %s: %w", rel, err)
		}
	}
	return nil
}

// projectedToken requests the token of one serviceAccountToken projection:
// its audience (the API server's default when empty) and expiration
// (kubelet's default of one hour when unset).
func (a *Agent) projectedToken(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	var audiences []string
	if src.Audience != "" {
		audiences = []string{src.Audience}
	}
	expiry := defaultTokenExpiration
	if src.ExpirationSeconds != nil {
		expiry = *src.ExpirationSeconds
	}
	return a.requestToken(ctx, pod, audiences, expiry)
}
