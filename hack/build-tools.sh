#!/usr/bin/env bash
# build-tools.sh builds the project's Go tools (controller-gen, staticcheck)
# at the versions pinned in hack/tools/go.mod into bin/.
set -euo pipefail
cd "$(dirname "$0")/tools"
bin="$(cd ../.. && pwd)/bin"
mkdir -p "$bin"
for t in sigs.k8s.io/controller-tools/cmd/controller-gen honnef.co/go/tools/cmd/staticcheck; do
	go build -o "$bin/$(basename "$t")" "$t"
done
