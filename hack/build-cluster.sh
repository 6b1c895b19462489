#!/usr/bin/env bash
# build-cluster.sh builds the control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) from the Kubernetes release pinned
# in hack/cluster/go.mod into bin/. It rebuilds only when the pin changes: a
# stamp holds the hash of hack/cluster/go.mod and go.sum (and of the build
# recipe's version, buildv below).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/bin"
mkdir -p "$bin"
stamp="$bin/.cluster-stamp"
buildv=2 # 2: the binaries report the pinned version
want=$( (cat hack/cluster/go.mod hack/cluster/go.sum; echo "$buildv") | sha256sum | cut -d' ' -f1)
all=(etcd kube-apiserver kube-controller-manager kube-scheduler)
ok=1
for b in "${all[@]}"; do [ -x "$bin/$b" ] || ok=0; done
if [ "$ok" = 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "building control-plane binaries from $(grep 'k8s.io/kubernetes v' hack/cluster/go.mod | head -1 | xargs) (first build takes several minutes)" >&2
start=$(date +%s)
version=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit} $2 == "k8s.io/kubernetes" {print $3; exit}' hack/cluster/go.mod)
cd hack/cluster
go build -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
mv "$bin/etcd.tmp" "$bin/etcd"
# The version the API server reports (/version, which Helm checks against a
# chart's kubeVersion); a plain go build leaves it at v0.0.0-master.
major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	go build -ldflags "-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
		-o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
	mv "$bin/$c.tmp" "$bin/$c"
done
echo "$want" > "$stamp"
echo "control-plane binaries built in $(( $(date +%s) - start )) s" >&2
