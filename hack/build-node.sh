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
want=$(cat hack/node/go.mod hack/node/go.sum hack/build-node.sh | sha256sum | cut -d' ' -f1)
if [ -x "$bin/kubelet" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
version=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit} $2 == "k8s.io/kubernetes" {print $3; exit}' hack/node/go.mod)
echo "building kubelet $version" >&2
start=$(date +%s)
cd hack/node
# The version kubelet reports (Node status nodeInfo.kubeletVersion); a plain
# go build leaves it at v0.0.0-master.
major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
go build -ldflags "-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
	-o "$bin/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet
mv "$bin/kubelet.tmp" "$bin/kubelet"
echo "$want" > "$stamp"
echo "kubelet built in $(( $(date +%s) - start )) s" >&2
