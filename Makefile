# AgentWeave for Go. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/.bin
FUZZTIME  ?= 3s
GOTESTFLAGS ?=
export AGENTWEAVE_BIN_DIR := $(BIN)

# Three tools modules, each built once into .bin/ and rebuilt only when its
# go.mod or go.sum changes (the stamp file name holds their hash). They are
# separate because their dependency graphs conflict (tools/README.md).
hash = $(shell cat $(1)/go.mod $(1)/go.sum | sha256sum | cut -c1-16)
SPIRE_STAMP := $(BIN)/.spire-$(call hash,tools)
OPA_STAMP   := $(BIN)/.opa-$(call hash,tools/opa)
LINT_STAMP  := $(BIN)/.lint-$(call hash,tools/lint)
KUBE_STAMP  := $(BIN)/.kube-$(call hash,tools/kube)
ETCD_STAMP  := $(BIN)/.etcd-$(call hash,tools/etcd)
PROM_STAMP  := $(BIN)/.promtool-$(call hash,tools/prometheus)

# build-tool DIR NAME WHAT HOWLONG LDFLAGS [OUT PKG]: go build the tool
# directives of tools/DIR (or PKG) into .bin/ (or OUT), printing progress
# every 20 s during a cold build.
define build-tool
	@mkdir -p $(BIN)
	@echo "building $(3) into .bin/ ($(4); skipped once built)"
	@start=$$(date +%s); \
	 ( cd tools/$(1) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w $(5)' -o $(or $(6),$(BIN)/) $(or $(7),tool) ) & pid=$$!; \
	 while kill -0 $$pid 2>/dev/null; do sleep 20; kill -0 $$pid 2>/dev/null && echo "  ... still building $(2) ($$(( $$(date +%s) - start ))s)"; done; \
	 wait $$pid; echo "  $(2) built in $$(( $$(date +%s) - start ))s"
	@rm -f $(BIN)/.$(2)-*; touch $@
endef

.PHONY: help
help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(SPIRE_STAMP) $(OPA_STAMP) $(LINT_STAMP) $(KUBE_STAMP) $(ETCD_STAMP) $(PROM_STAMP) ## build SPIRE, OPA, golangci-lint, kube-apiserver, etcd and promtool into .bin/ (once)

$(SPIRE_STAMP):
	@mkdir -p $(BIN)
	@command -v gcc >/dev/null || { echo "gcc is needed (SPIRE's sqlite datastore uses cgo): installing"; apt-get update -qq && apt-get install -y -qq gcc libc6-dev; }
	@echo "building spire-server and spire-agent v1.13.3 into .bin/ (cold: 6-10 minutes on 2 cores; skipped once built)"
	@start=$$(date +%s); \
	 ( cd tools && CGO_ENABLED=1 $(GO) build -ldflags='-s -w' -o $(BIN)/ tool ) & pid=$$!; \
	 while kill -0 $$pid 2>/dev/null; do sleep 20; kill -0 $$pid 2>/dev/null && echo "  ... still building SPIRE ($$(( $$(date +%s) - start ))s)"; done; \
	 wait $$pid; echo "  SPIRE built in $$(( $$(date +%s) - start ))s"
	@rm -f $(BIN)/.spire-*; touch $@

$(OPA_STAMP):
	@mkdir -p $(BIN)
	@echo "building opa v1.22.3 into .bin/ (cold: about a minute)"
	cd tools/opa && $(GO) build -ldflags='-s -w' -o $(BIN)/ tool
	@rm -f $(BIN)/.opa-*; touch $@

$(LINT_STAMP):
	@mkdir -p $(BIN)
	@echo "building golangci-lint v2.15.0 into .bin/"
	cd tools/lint && $(GO) build -o $(BIN)/ tool
	@rm -f $(BIN)/.lint-*; touch $@

# kube-apiserver and etcd for the chart's API-server tests (deploy/), and
# promtool for its alert rules. The version ldflags make `kube-apiserver
# --version` tell the truth (it says v0.0.0-master otherwise).
KUBE_VERSION_LDFLAGS := -X k8s.io/component-base/version.gitVersion=v1.37.2 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37
$(KUBE_STAMP):
	$(call build-tool,kube,kube,kube-apiserver v1.37.2,cold: about 8 minutes on 2 cores,$(KUBE_VERSION_LDFLAGS))

$(ETCD_STAMP):
	$(call build-tool,etcd,etcd,etcd v3.7.3,cold: about 1.5 minutes,,$(BIN)/etcd,go.etcd.io/etcd/server/v3)

$(PROM_STAMP):
	$(call build-tool,prometheus,promtool,promtool v0.316.0 (Prometheus 3),cold: about 8 minutes)

.PHONY: kube
kube: $(KUBE_STAMP) $(ETCD_STAMP) $(PROM_STAMP) ## build kube-apiserver, etcd and promtool into .bin/ (once)

# The official A2A JS SDK for the interop tests (lock file committed).
JS_STAMP := interop/js/node_modules/.package-lock.json
$(JS_STAMP): interop/js/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the A2A JS SDK interop tests: installing nodejs and npm"; apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm ci --prefix interop/js --no-audit --no-fund --loglevel=error

.PHONY: js
js: $(JS_STAMP) ## install the A2A JS SDK for the interop tests (npm ci)

# PostgreSQL from Debian for the shared task store's tests (the harness runs
# a throwaway server on a loopback port).
.PHONY: postgres
postgres: ## install PostgreSQL from apt if missing
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { echo "installing PostgreSQL from apt"; apt-get update -qq && apt-get install -y -qq postgresql; }

.PHONY: test
test: tools js postgres ## run every test (-race, shuffled), with real SPIRE, OPA, PostgreSQL and kube-apiserver, then a short fuzz pass
	AGENTWEAVE_REQUIRE_INFRA=1 $(GO) test -race -shuffle=on -count=1 -timeout 20m $(GOTESTFLAGS) ./...
	@$(MAKE) --no-print-directory test-deploy
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

# The deploy module (image, chart, monitoring) without -race: its tests drive
# separate processes (kube-apiserver, etcd, SPIRE, OPA, agents), and -race on
# Helm, client-go and Prometheus would double a cold compile for no gain.
.PHONY: test-deploy
test-deploy: tools ## the deploy module's tests: image, Helm chart on a real kube-apiserver, stand-in pods, monitoring
	@echo "== deploy module (first compile of Helm, client-go and Prometheus: several minutes cold)"
	cd deploy && AGENTWEAVE_REQUIRE_INFRA=1 $(GO) test -shuffle=on -count=1 -timeout 30m $(GOTESTFLAGS) ./...

.PHONY: soak
soak: tools postgres ## the reliability suite at full length (AGENTWEAVE_SOAK=1): minutes per case; make test runs the short version
	AGENTWEAVE_SOAK=1 AGENTWEAVE_REQUIRE_INFRA=1 $(GO) test -count=1 -timeout 60m -v $(GOTESTFLAGS) ./internal/reliability/...

.PHONY: race
race: test ## alias of test (tests always run with -race)

.PHONY: fuzz
fuzz: ## run every Fuzz target for FUZZTIME each (default 3s); a failure prints its log
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./tools/' | sort); do \
	  dir=$$(dirname $$f); \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
	    echo "fuzz $$dir $$t ($(FUZZTIME))"; \
	    log=$$(mktemp); \
	    ( cd $$dir && $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) . ) > $$log 2>&1 || { cat $$log; rm -f $$log; exit 1; }; \
	    rm -f $$log; \
	  done; \
	done

.PHONY: lint
lint: $(LINT_STAMP) ## go vet, golangci-lint, go mod tidy -diff (the SDK module and the deploy module)
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(BIN)/golangci-lint run ./...
	cd deploy && $(GO) mod tidy -diff && $(GO) vet ./... && $(BIN)/golangci-lint run ./...

BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCHROUNDS ?= 6
BENCHDURATION ?= 10s
BENCHCONCURRENCY ?= 32
BENCHRATE ?= 1000
BENCHFLAGS ?=

.PHONY: bench
bench: ## server comparison (one process per server, BENCHDURATION each, BENCHCONCURRENCY callers), then the go-test benchmarks over BENCHROUNDS runs
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/benchserver ./internal/benchserver/server
	$(GO) build -o $(BIN)/benchdriver ./internal/benchserver/driver
	$(BIN)/benchdriver -server $(BIN)/benchserver -duration $(BENCHDURATION) -concurrency $(BENCHCONCURRENCY) -rate $(BENCHRATE) $(BENCHFLAGS)
	$(GO) test -c -o $(BIN)/transport.test ./transport
	$(GO) test -c -o $(BIN)/a2a.test ./a2a
	@rm -f $(BIN)/bench-*.txt; for i in $$(seq $(BENCHROUNDS)); do \
	  echo "round $$i/$(BENCHROUNDS)"; \
	  $(BIN)/transport.test -test.run '^$$' -test.bench . -test.benchmem -test.count 1 -test.benchtime 1s >> $(BIN)/bench-transport.txt; \
	  $(BIN)/a2a.test -test.run '^$$' -test.bench 'SendMessage|SecureCall' -test.benchmem -test.count 1 -test.benchtime 1s >> $(BIN)/bench-a2a.txt; \
	done
	$(GO) run $(BENCHSTAT) $(BIN)/bench-transport.txt
	$(GO) run $(BENCHSTAT) $(BIN)/bench-a2a.txt

.PHONY: cover
cover: tools js postgres ## test with a coverage profile in cover.out
	AGENTWEAVE_REQUIRE_INFRA=1 $(GO) test -count=1 -coverprofile=cover.out ./...
	$(GO) tool cover -func=cover.out | tail -1

.PHONY: generate-check
generate-check: ## fail if go generate changes anything
	$(GO) generate ./...
	cd deploy && $(GO) generate ./...
	git diff --exit-code

# One OCI image per program, built without a container engine by
# deploy/cmd/image (deploy/image/doc.go says what is in them): each static
# binary alone at /PROGRAM on an empty base, user 65532:65532. Written as
# .bin/image/NAME.tar (docker load; crane push FILE REF) and as the OCI
# layout .bin/image/oci/NAME/ (crane push DIR REF), NAME being agentweave or
# agentweave-PROGRAM. The same commit makes the same digests
# (SOURCE_DATE_EPOCH defaults to the commit time). IMAGE_ARCH=arm64 builds
# for arm64.
IMAGE_VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_ARCH     ?= amd64
IMAGE_PROGRAMS := ./cmd/agentweave ./examples/quickstart/search ./examples/quickstart/orchestrator ./examples/conformance

.PHONY: image
image: ## build the OCI images (one per program) into .bin/image/ without a container engine
	@mkdir -p $(BIN)/image
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags='-s -w -X main.version=$(IMAGE_VERSION)' -o $(BIN)/image/ $(IMAGE_PROGRAMS)
	cd deploy && SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct)} $(GO) run ./cmd/image \
	  $(foreach p,$(IMAGE_PROGRAMS),--binary $(BIN)/image/$(notdir $(p))) \
	  --version '$(IMAGE_VERSION)' --revision '$(IMAGE_REVISION)' --platform linux/$(IMAGE_ARCH) \
	  --out-tar $(BIN)/image --out-layout $(BIN)/image/oci

.PHONY: clean
clean: ## remove built tools and caches of this repo
	rm -rf $(BIN) cover.out interop/js/node_modules
