# Testcar — build, test, demo, bench.
# `make test` installs what it needs when missing (apt, npm, pip into .tools/), then runs
# lint, every Rust test and the tool-backed checks under tests/.

SHELL := /bin/bash
CARGO ?= cargo
export TESTCAR_TOOLS := $(CURDIR)/.tools
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/.tools/node_modules/.bin:$(PATH)

.PHONY: all build demo cluster-demo cluster-up cluster-down test setup lint fmt clippy test-rust test-tools fuzz bench compat schema clean

all: build

build:
	$(CARGO) build --workspace --all-features --bins

## demo: run the main job end-to-end on this machine (no cluster needed)
demo:
	bash scripts/demo.sh

## cluster-demo: the same on a real single-node Kubernetes built on this machine (root; docs/local-cluster.md)
cluster-demo: setup
	bash scripts/cluster/demo.sh

## cluster-up / cluster-down: a local cluster with Testcar's images to try things by hand
cluster-up: setup
	cargo build -q --workspace --all-features --bins --examples
	bash scripts/cluster/up.sh
	@echo "export KUBECONFIG=$(CURDIR)/target/cluster/kubeconfig"

cluster-down:
	bash scripts/cluster/down.sh

## test: lint + every test; installs missing tools first
test: setup lint test-rust test-tools

## setup: install what the tests need, only when missing (idempotent)
setup:
	bash scripts/setup.sh

## lint: rustfmt, clippy and cargo deny (deny.toml; advisories only when their database can be fetched)
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	bash scripts/deny.sh

fmt:
	$(CARGO) fmt --all

## test-rust: unit and integration tests of every crate; tools must be present
test-rust:
	TESTCAR_REQUIRE_TOOLS=1 $(CARGO) test --workspace --all-features --no-fail-fast

## test-tools: checks driven by external tools (helm, kubernetes-validate, artillery, ...)
test-tools:
	TESTCAR_REQUIRE_TOOLS=1 bash scripts/run-dir.sh tests/tools.d

## fuzz: the hostile-input properties (hostile_*) with a long budget, FUZZ_CASES per property
## (default 20000; `make test` runs 96); see docs/architecture.md "Hostile input"
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --workspace --all-features --no-fail-fast -- hostile_

## bench: benchmarks, each printing ratios against its named peers in the same run
bench: setup
	$(CARGO) build --release --workspace --all-features --bins
	bash scripts/run-dir.sh scripts/bench.d

## compat: the Artillery compatibility corpus through real Artillery and Testcar
compat: setup
	bash tests/artillery-compat/compat.sh

## schema: regenerate docs/result.schema.json from the result types
schema:
	TESTCAR_BLESS=1 $(CARGO) test -p testcar-contract --lib schema

clean:
	$(CARGO) clean
