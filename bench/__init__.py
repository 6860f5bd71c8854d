"""livecart performance benchmark: ``python -m bench`` (see bench/run.py and reports/perf.md)."""

import streams  # noqa: F401  # sets OPENBLAS_NUM_THREADS=1 before any bench module imports numpy
