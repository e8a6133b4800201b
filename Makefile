# HATS: the two commands a new machine needs are `make run` and `make test`.
# Everything else here is for development.

CARGO ?= cargo
BIN := target/debug

.PHONY: all build run test lint fmt bench bench-cluster bench-cron clean

all: build

## build: compile the worker, hatter and the tests' helpers
build:
	$(CARGO) build --workspace

## run: build, make sure a Redis is reachable (a throwaway one if needed),
## register examples/hello.js and run a worker in the foreground (Ctrl-C stops it)
run: build
	@scripts/ensure-redis-server.sh
	@scripts/run.sh

## test: the whole test suite, against redis-servers the tests start themselves
test: build
	@scripts/ensure-redis-server.sh
	$(CARGO) test --workspace --no-fail-fast

## lint: formatting and clippy, as CI's reviewers expect them
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: script speed figures, then cron tick lateness (not part of CI;
## make bench-cluster measures takeover, bookkeeping and memory)
bench:
	@scripts/ensure-redis-server.sh
	$(CARGO) run --release -p hats-bench --bin script-bench
	$(MAKE) bench-cron

## bench-cluster: takeover times and bookkeeping cost of real workers (not part of CI)
bench-cluster:
	@scripts/ensure-redis-server.sh
	$(CARGO) build --release --workspace
	$(CARGO) run --release -p hats-bench --bin cluster-bench

## bench-cron: tick start lateness (p50/p99) and duplicate/missed ticks of an
## every-second job on 3 real workers, over HATS_BENCH_TICKS ticks (default 300;
## not part of CI)
bench-cron:
	@scripts/ensure-redis-server.sh
	$(CARGO) build --release --workspace
	$(CARGO) test --release -p hats-tests --test jobs -- --ignored --nocapture bench_cron

clean:
	$(CARGO) clean
