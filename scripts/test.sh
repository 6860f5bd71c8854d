#!/usr/bin/env bash
# Second command: install what the tests need (train + test extras, Kafka jars, redis-server),
# then lint, type-check and run the whole suite, integration tests against real services included.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[train,test]"
bash scripts/install_services.sh
bash scripts/install_browser.sh
.venv/bin/ruff check streams models export tests scripts bench
.venv/bin/mypy streams models export bench
exec .venv/bin/python -m pytest "$@"
