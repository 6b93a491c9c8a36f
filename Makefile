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

.PHONY: install run kafka-start kafka-stop test test-fast test-unit test-integration drills lint typecheck bench bench-quick clean

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

clean:
	scripts/kafka.sh reset || true
	rm -rf data .cache/kafka/run-*
