#!/usr/bin/env bash
# build-node.sh builds kubelet from the Kubernetes release pinned in
# hack/node/go.mod (the same release as hack/cluster) into bin/, for the
# local cluster's real nodes. It rebuilds only when the pin changes: a stamp
# holds the hash of hack/node/go.mod and go.sum. The images the real nodes
# run are built by the Go code that starts them (internal/localcluster).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/bin"
mkdir -p "$bin"
stamp="$bin/.node-stamp"
want=$(cat hack/node/go.mod hack/node/go.sum | sha256sum | cut -d' ' -f1)
if [ -x "$bin/kubelet" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "building kubelet from $(grep 'k8s.io/kubernetes v' hack/node/go.mod | head -1 | xargs)" >&2
start=$(date +%s)
cd hack/node
go build -ldflags "-s -w" -o "$bin/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet
mv "$bin/kubelet.tmp" "$bin/kubelet"
echo "$want" > "$stamp"
echo "kubelet built in $(( $(date +%s) - start )) s" >&2
