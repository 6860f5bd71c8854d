#!/usr/bin/env bash
# First command on a fresh machine: create .venv, install livecart (runtime deps only: no torch),
# then run the main job: an embedded, in-process replay of the shipped demo log (no servers).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
if [ "${1:-}" = "--gpu" ]; then
  # onnxruntime-gpu provides the same module as onnxruntime: drop the CPU wheel so the GPU one is used.
  .venv/bin/python -m pip uninstall -q -y onnxruntime
  .venv/bin/python -m pip install -q -e ".[gpu]"
fi
exec .venv/bin/livecart replay data/demo_log.jsonl.gz --embedded --out out/demo
