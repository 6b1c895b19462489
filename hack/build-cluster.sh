#!/usr/bin/env bash
# build-cluster.sh builds the control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) from the Kubernetes release pinned
# in hack/cluster/go.mod into bin/. It rebuilds only when the pin changes: a
# stamp holds the hash of hack/cluster/go.mod and go.sum.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/bin"
mkdir -p "$bin"
stamp="$bin/.cluster-stamp"
want=$(cat hack/cluster/go.mod hack/cluster/go.sum | sha256sum | cut -d' ' -f1)
all=(etcd kube-apiserver kube-controller-manager kube-scheduler)
ok=1
for b in "${all[@]}"; do [ -x "$bin/$b" ] || ok=0; done
if [ "$ok" = 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "building control-plane binaries from $(grep 'k8s.io/kubernetes v' hack/cluster/go.mod | head -1 | xargs) (first build takes several minutes)" >&2
start=$(date +%s)
cd hack/cluster
go build -o "$bin/etcd" go.etcd.io/etcd/server/v3
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	go build -ldflags "-s -w" -o "$bin/$c" "k8s.io/kubernetes/cmd/$c"
done
echo "$want" > "$stamp"
echo "control-plane binaries built in $(( $(date +%s) - start )) s" >&2
