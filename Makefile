# seatkeeper's commands. `make help` lists them.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO ?= go
CONTROLLER_GEN := $(GO) tool controller-gen
# kube-apiserver and etcd for envtest: downloaded or built once per machine, see hack/envtest-assets.sh.
ENVTEST_ASSETS = $(shell ./hack/envtest-assets.sh)
# Kueue's minimalkueue and CRDs for test/kueue: built once per machine from the Go module proxy,
# see hack/kueue-assets.sh.
KUEUE_ASSETS_DIR = $(shell ./hack/kueue-assets.sh)
# Packages run by `make test`; TEST_ARGS passes extra flags (e.g. TEST_ARGS='-run Seats').
TEST_PKGS ?= ./...
TEST_ARGS ?=

.PHONY: help
help: ## List the commands.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: manifests
manifests: ## Generate CRDs and the manager's RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=seatkeeper-manager crd paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate the API's DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## go vet.
	$(GO) vet ./...

.PHONY: lint-api
lint-api: ## Check api/ against the Kubernetes API conventions with kube-api-linter (.golangci-kal.yml).
	./hack/kube-api-linter.sh

.PHONY: envtest
envtest: ## Provide kube-apiserver and etcd for the tests (first time: download or build, ~8 min).
	@echo "envtest binaries: $(ENVTEST_ASSETS)"

# Fuzz targets and how long `make test` runs each (FUZZTIME=0 skips them).
FUZZ_TARGETS ?= ./internal/allocator:FuzzDecide ./api/v1alpha1:FuzzAcceptedObjectsDecode
FUZZTIME ?= 10s

.PHONY: test
test: manifests generate vet lint-api ## Run every test (unit, envtest integration, the real Kueue, the portal in Chromium, short fuzz) with -race.
	@# The portal's browser tests drive Chromium: hack/chromium.sh finds it, or installs it with apt-get.
	chromium=$$(./hack/chromium.sh); \
	CHROMIUM="$$chromium" KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" KUEUE_ASSETS="$(KUEUE_ASSETS_DIR)" $(GO) test -race -count=1 -timeout 40m $(TEST_PKGS) $(TEST_ARGS)
	$(MAKE) --no-print-directory fuzz

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME.
	@if [ "$(FUZZTIME)" != "0" ]; then for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) "$${t%%:*}" || exit 1; \
	done; fi

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when the committed generated files are stale.
	@git diff --exit-code --stat -- api config || { echo "generated files are stale: run make manifests generate and commit"; exit 1; }

.PHONY: build
build: manifests generate ## Build the operator and the extra binaries into bin/.
	$(GO) build -o bin/manager .
	$(GO) build -o bin/ ./cmd/...

.PHONY: run
run: manifests generate ## Run the operator: on KUBECONFIG's cluster if reachable, else (or LOCAL=1) on a throwaway local control plane.
	./hack/run.sh

.PHONY: bench
bench: ## Measure the operator against the API server (BENCH_ARGS=-quick: ~4 min; default full run: under 30). Results in test/bench/results.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" $(GO) run ./test/bench $(BENCH_ARGS)

.PHONY: deploy
deploy: manifests ## Install CRDs, RBAC and the operator on KUBECONFIG's cluster.
	kubectl apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove what deploy installed.
	kubectl delete --ignore-not-found -k config/default
