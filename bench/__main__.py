"""``python -m bench``: the full performance benchmark (see bench.run.main)."""

from bench.run import main

main()
