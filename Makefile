# The two commands a person needs: `make run` and `make test`.
# Tools are installed outside the checkout (see .ci/setup.sh), once per machine.

SHELL := /bin/bash
ADDR ?= 127.0.0.1:3000
CHAT_TOOLS_DIR ?= $(HOME)/.cache/chat-tools
export CHAT_TOOLS_DIR
export PATH := $(CHAT_TOOLS_DIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup run dev build test test-rust test-e2e lint fmt bench fuzz

## Install the toolchain (idempotent: skips what is already installed).
setup:
	@bash .ci/setup.sh

## Release build of the server and the WASM bundle.
build: setup
	cargo leptos build --release --precompress

## Build a release and serve it on $(ADDR).
run: build
	LEPTOS_SITE_ADDR=$(ADDR) LEPTOS_SITE_ROOT=target/site ./target/release/chat

## Development server with reload.
dev: setup
	cargo leptos watch

## Every test: Rust unit and integration tests, then Playwright (release bundle, debug server).
test: setup
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-e2e

# Then the server-level suites again with the PostgreSQL store (each
# server on a throw-away cluster of its own; Debian's postgresql).
PG_SUITES = --test hub --test identities --test pages --test faults --test connections --test store --test watch --test search --test reads --test accounts --test admin --test tokens --test access --test changes --test moderation --test files --test upload_limits --test personal
# And the protocol suites once more with every client on the fallback
# transport (1.2 section 6: Server-Sent Events and POSTs instead of /ws).
LIVE_SUITES = --test hub --test identities --test connections --test watch --test search --test reads --test accounts --test tokens --test access --test changes --test moderation --test files
# The tests' data directories and PostgreSQL clusters go in memory where
# /dev/shm is: on this machine's disk, initdb and the clusters' writes took
# a third of the PostgreSQL pass (175 s against 108 s in /dev/shm).
TEST_TMP := $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)
test-rust:
	TMPDIR=$(TEST_TMP) cargo test --features ssr
	TMPDIR=$(TEST_TMP) CHAT_TEST_BACKEND=postgres cargo test --features ssr $(PG_SUITES)
	TMPDIR=$(TEST_TMP) CHAT_TEST_TRANSPORT=live cargo test --features ssr $(LIVE_SUITES)

# The browser suite: the release bundle, with the fresh-render hook for its
# hydration check (feature hydration-check; see src/ui/fresh.rs), served by
# the debug server `cargo test` builds: CI compiles the server once, not
# twice (the suite passes the same against the release server:
# E2E_SERVER=../target/release/chat after `cargo leptos build --release`).
test-e2e: setup
	cargo leptos build --release --precompress --frontend-only --lib-features hydrate,hydration-check
	cargo build --features ssr --bin chat
	cp target/release/hash.txt target/debug/hash.txt
	cd end2end && E2E_SERVER=../target/debug/chat npx playwright test

## rustfmt check and clippy (server and browser side) with warnings denied.
lint: setup
	cargo fmt --check
	cargo clippy --features ssr --all-targets -- -D warnings
	cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings
	cargo clippy --lib --features hydration-check --target wasm32-unknown-unknown -- -D warnings

fmt:
	cargo fmt

## Benchmarks (fan-out, latency, persistence, memory) against a release build.
bench: build
	cargo build --release --features ssr --bin loadgen
	bash .ci/bench.sh

## Fuzzing (not part of `make test`): each cargo-fuzz target for FUZZ_SECS
## seconds on the nightly toolchain; the corpus stays in fuzz/corpus/.
FUZZ_SECS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
	cd fuzz && for t in client_frames render; do \
		mkdir -p corpus/$$t && \
		cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECS) || exit 1; \
	done
