# zerodrop's Makefile. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
BIN := $(CURDIR)/bin
export KUBEBUILDER_ASSETS := $(BIN)
export PATH := $(BIN):$(PATH)
GO_TEST_FLAGS ?= -count=1 -timeout 25m

##@ Main

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: demo
demo: deps build ## Run the demo: local cluster + HAProxy, rollouts with and without zerodrop.
	$(BIN)/zerodrop demo

.PHONY: demo-real
demo-real: deps deps-real build ## Run the demo on real nodes: kubelet + containerd + runc inside a network namespace of its own (root).
	$(BIN)/zerodrop demo --real-nodes

.PHONY: test-real
test-real: deps deps-real ## Run the real-node e2e test (root; not part of make test).
	go test -tags realnode -count=1 -timeout 20m -run 'TestRealNodes' ./test/e2e

.PHONY: test
test: deps verify fmt-check vet staticcheck ## Run every check and test (unit, integration on a real API server and HAProxy, e2e).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/e2e)
	@# The e2e tests measure lost requests under load on this machine: they
	@# run alone, after everything else, so no other package's HAProxies,
	@# API servers and builds compete with the load they measure.
	go test $(GO_TEST_FLAGS) ./test/e2e/

.PHONY: bench
bench: deps build ## Run the benchmarks and print their ratios.
	go test -run '^$$' -bench . -benchtime 1x ./...

##@ Build

GOARCH_HOST := $(shell go env GOARCH)

.PHONY: deps-real
deps-real: ## Install what real nodes need: containerd, runc, CNI plugins, iproute2; build bin/kubelet and the nodes' images.
	hack/install-debs.sh containerd runc containernetworking-plugins iproute2
	hack/build-node.sh
	go run ./hack/image -o $(BIN)/podapp-image.tar -pkg ./internal/localcluster/podapp/cmd/podapp -binary-path /podapp \
		-ref zerodrop.dev/podapp:local -platforms linux/$(GOARCH_HOST) -epoch 0
	go run ./hack/image -o $(BIN)/zerodrop-demo-image.tar -ref zerodrop.dev/zerodrop:demo -platforms linux/$(GOARCH_HOST) \
		-source $(IMAGE_SOURCE) -revision $(REVISION) -version $(VERSION) -epoch $(SOURCE_DATE_EPOCH)

.PHONY: build
build: ## Build bin/zerodrop.
	CGO_ENABLED=0 go build -o $(BIN)/zerodrop ./cmd/zerodrop

.PHONY: deps
deps: ## Install Debian packages, tools and the control-plane binaries the tests need.
	hack/install-debs.sh haproxy chromium iproute2
	hack/build-tools.sh
	hack/build-cluster.sh

# The image's metadata: labels org.opencontainers.image.{source,revision,version}.
# Every file time and the config's creation time are SOURCE_DATE_EPOCH, by
# default the commit time, so the same commit gives the same digest.
IMAGE_NAME ?= ghcr.io/zerodrop/zerodrop
IMAGE_SOURCE ?= https://github.com/zerodrop/zerodrop
VERSION ?= $(shell git describe --tags --always --dirty)
REVISION ?= $(shell git rev-parse HEAD)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)

.PHONY: image
image: ## Build bin/zerodrop-image.tar: OCI image (linux/amd64, linux/arm64) of the static binary, no Docker needed.
	go run ./hack/image -o $(BIN)/zerodrop-image.tar -ref $(IMAGE_NAME):$(VERSION) \
		-source $(IMAGE_SOURCE) -revision $(REVISION) -version $(VERSION) -epoch $(SOURCE_DATE_EPOCH)

.PHONY: dist
dist: ## Build the kubectl plugin's release archives (kubectl-zerodrop_<version>_<os>_<arch>.tar.gz) and krew manifest into bin/dist; VERSION=v0.1.0.
	go run ./hack/dist -o $(BIN)/dist -version $(VERSION) -epoch $(SOURCE_DATE_EPOCH)

##@ Generated files

.PHONY: generate
generate: ## Regenerate deepcopy, CRDs, RBAC, the webhook configuration, the chart's generated parts, the kustomize base and the values table.
	$(BIN)/controller-gen object:headerFile=/dev/null paths=./api/...
	$(BIN)/controller-gen crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=config/crd
	$(BIN)/controller-gen rbac:roleName=zerodrop-controller paths=./internal/controller/... output:rbac:artifacts:config=config/rbac
	go run ./hack/genmanifests
	go run ./hack/genchart

.PHONY: verify
verify: ## Fail when generated files drift from their sources.
	hack/verify-generated.sh

##@ Checks

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: staticcheck
staticcheck: ## Run staticcheck.
	$(BIN)/staticcheck ./...
