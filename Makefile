# Kinline build and test entry points. `make help` lists them.
GO      ?= go
BIN     ?= bin
GOFLAGS ?=
PKGS    := ./...
# VERSION is what -version prints and central and the appliances report
# (shared/version); `git describe` of the tree unless given.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/kinline/kinline/shared/version.Version=$(VERSION)

BINARIES := kinline-appliance kinline-central kinline-readersim kinline-sipsim kinline-panelsim kinline-provision kinline-mqttproxy kinline-demo

.PHONY: help build demo test test-loaded test-unit test-hil test-race bench fuzz vet fmt clean cross prompts load overload

# test-loaded keeps LOAD_CPUS cores busy (default: every core) while `make test` runs.
LOAD_CPUS ?= $(shell nproc 2>/dev/null || echo 2)

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build every binary into ./bin
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-appliance ./appliance/cmd/kinline-appliance
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-central   ./central/cmd/kinline-central
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-readersim ./tools/readersim
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-sipsim    ./tools/sipsim/cmd/kinline-sipsim
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-panelsim  ./tools/panelsim
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-provision ./tools/provision
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-mqttproxy ./tools/mqttproxy/cmd/kinline-mqttproxy
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinline-demo      ./tools/demo

# CONSOLE is the demo console's address (make demo CONSOLE=0.0.0.0:8080).
CONSOLE ?= 127.0.0.1:8080

demo: build ## run central + a simulated block appliance, place example calls, keep the console up on CONSOLE
	$(BIN)/kinline-demo -dir .demo -bin $(BIN) -http $(CONSOLE)

test: vet ## every test tier; tiers whose peers are missing say so and skip (CI requires them)
	$(GO) test -count=1 -timeout 20m $(PKGS)

test-loaded: ## `make test` with every core kept busy (stress-ng --cpu, installed if missing; else busy loops): tests must not need an idle machine
	@set -e; pids=""; \
	trap 'for p in $$pids; do kill $$p 2>/dev/null || true; done' EXIT; trap 'exit 130' INT TERM; \
	if ! command -v stress-ng >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "test-loaded: installing stress-ng (Debian package stress-ng)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stress-ng >/dev/null 2>&1 || true; \
	fi; \
	if command -v stress-ng >/dev/null; then \
		echo "test-loaded: stress-ng --cpu $(LOAD_CPUS) while the tests run"; \
		stress-ng --cpu $(LOAD_CPUS) --timeout 60m --quiet & pids="$$!"; \
	else \
		echo "test-loaded: stress-ng not installed; $(LOAD_CPUS) busy loops while the tests run"; \
		i=0; while [ $$i -lt $(LOAD_CPUS) ]; do sh -c 'while :; do :; done' & pids="$$pids $$!"; i=$$((i+1)); done; \
	fi; \
	$(MAKE) --no-print-directory test

test-unit: ## unit tests only (no real peers, no binaries)
	$(GO) test -count=1 -short $(PKGS)

test-hil: build ## only the end-to-end tests against real peers (sipp, mosquitto)
	$(GO) test -count=1 -v -timeout 15m ./hil-tests/...

test-race: ## unit tests under the race detector
	$(GO) test -count=1 -short -race $(PKGS)

load: ## sipp media load on the real binaries: CALLS recorded calls (default 100), CPU per call, RSS, pickup to ringing
	$(GO) run ./hil-tests/load/cmd/kinline-load -calls $${CALLS:-100} -ring-rounds 1

overload: ## sipp overload on the real appliance: refused attempts ramped to 5,000/s, then unanswered INVITEs; served/s, 503s, peak RSS
	$(GO) run ./hil-tests/load/cmd/kinline-overload -rates $${RATES:-500,1000,2000,3000,4000,5000} -step $${STEP:-10s}

bench: ## the benchmarks behind docs/PERFORMANCE.md
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@for t in $$($(GO) test -list '^Fuzz' $(PKGS) | grep -E '^(Fuzz|ok)' | awk '/^Fuzz/{f=f" "$$1} /^ok/{if(f!=""){print $$2":"f}; f=""}'); do \
		pkg=$${t%%:*}; for f in $${t#*:}; do echo "== $$pkg $$f"; \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10s} $$pkg || exit 1; done; done

vet: ## go vet and gofmt check
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

fmt: ## gofmt every file
	gofmt -w $$(git ls-files '*.go')

prompts: ## regenerate the spoken prompts (needs espeak-ng and sox; output is committed)
	$(GO) run ./appliance/prompts/gen

cross: ## cross-compile the appliance for ARM boards (linux/arm64, linux/arm)
	$(MAKE) -C firmware images VERSION=$(VERSION)

clean: ## remove build output and demo state
	rm -rf $(BIN) .demo
