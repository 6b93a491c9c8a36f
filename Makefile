# actionlog — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA_PORT ?= 9092
# pytest exits 5 when it collected no test: that is a failure here.
PYTEST = $(PY) -m pytest
define run_pytest
	$(PYTEST) $(1); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; exit $$rc
endef

.PHONY: install run kafka-start kafka-stop test test-fast test-unit test-integration drills lint typecheck bench bench-quick clean \
	mutate mutate-report mutate-survivors

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

kafka-start:
	KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh start

kafka-stop:
	KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh stop

## Run the whole system: a local broker on 127.0.0.1:$(KAFKA_PORT), then the worker (Ctrl-C stops it).
run: install kafka-start
	@echo ""
	@echo "  The report page: http://127.0.0.1:$${ACTIONLOG_HTTP_PORT:-8088}/  (Reporting > Reports > Content Actions Log)"
	@echo "  Sign in with a token; create the first one, in another terminal, with:"
	@echo "      $(VENV)/bin/actionlog tokens create --name admin --admin"
	@echo ""
	KAFKA_BOOTSTRAP_SERVERS=$${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$(KAFKA_PORT)} $(VENV)/bin/actionlog worker

## The whole test suite (what CI runs): unit, integration and the failure drills, on a real broker
## started by scripts/kafka.sh (about 6 minutes here).
test: install
	scripts/kafka.sh fetch
	@$(call run_pytest,-q --durations=15)

## Everything but the slow drills (about 2.5 minutes).
test-fast: install
	scripts/kafka.sh fetch
	@$(call run_pytest,-m "not drill" -q)

test-unit: install
	@$(call run_pytest,tests/unit -q)

## The slow failure drills (kill -9, broker restart, rebalance, replay).
drills: install
	scripts/kafka.sh fetch
	@$(call run_pytest,-m drill -q)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/run.py

bench-quick: install
	$(PY) bench/run.py --quick

## Mutation testing of the pure core with mutmut, judged by tests/unit alone (docs/testing.md).
## Not in CI: 27 minutes for timestamps, batch, catalog and export plan on 2 busy cores; the whole core
## takes hours. One module: make mutate MUTATE='actionlog.processor.timestamps.*'
MUTATE_VENV ?= .venv-mutate
MUTATE_JOBS ?= 2
MUTATE ?=
MUTMUT := $(MUTATE_VENV)/bin/mutmut

# Its own venv: mutmut 3.8.1 asks for click>=8.4.2, Faust for click<8.4. mutmut runs on the
# project's click 8.3.3, so it is installed without its dependencies, which are then pinned here.
$(MUTATE_VENV)/.installed: pyproject.toml
	test -x $(MUTATE_VENV)/bin/python || python3.11 -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/python -m pip install -q --upgrade pip
	$(MUTATE_VENV)/bin/python -m pip install -q -e ".[dev]"
	$(MUTATE_VENV)/bin/python -m pip install -q --no-deps mutmut==3.8.1
	$(MUTATE_VENV)/bin/python -m pip install -q coverage==7.17.3 libcst==1.9.0 setproctitle==1.3.8 textual==8.2.8
	touch $@

# Always from a clean mutants/: mutmut's cache keeps results of functions whose source did not
# change even when the tests did.
mutate: $(MUTATE_VENV)/.installed
	rm -rf mutants
	$(MUTMUT) run --max-children $(MUTATE_JOBS) $(MUTATE) > mutants.log 2>&1 \
		|| { tr '\r' '\n' < mutants.log | tail -40; exit 1; }
	@$(MAKE) --no-print-directory mutate-report

## The score of the last run, and the surviving mutants by name.
mutate-report:
	@$(MUTMUT) export-cicd-stats > /dev/null
	@$(MUTMUT) results 2>/dev/null | grep -v ': not checked$$' || true
	@$(PY) -c 'import json; s = json.load(open("mutants/mutmut-cicd-stats.json")); \
		n = sum(s[k] for k in ("killed", "survived", "timeout", "suspicious", "no_tests")); \
		print("killed {killed}, survived {survived}, timeout {timeout}, suspicious {suspicious}, no tests {no_tests}".format(**s), \
		      "- score {:.1f}% of {}".format(100 * (s["killed"] + s["timeout"]) / max(1, n), n))'

## Each surviving mutant with its diff lines.
mutate-survivors:
	@$(MUTMUT) results 2>/dev/null | grep -E ': (survived|no tests)$$' | sed 's/^ *//; s/: .*//' | while read -r m; do \
		echo "$$m: $$($(MUTMUT) show "$$m" 2>/dev/null | grep -E '^[-+][^-+]' | tr '\n' ' ')"; done

clean:
	scripts/kafka.sh reset || true
	rm -rf data mutants mutants.log .cache/kafka/run-*
