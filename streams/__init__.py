"""livecart streaming package: records, topics, agents, state and the pure logic they call."""

import os

# Ranking does small mat-vecs (items x 64) per event; multi-threaded OpenBLAS spin-waits on a busy
# 2-core machine and turned a 10,000 x 64 mat-vec from 0.1 ms into 12 ms (measured here). Parallelism
# comes from partitions and workers instead. Set before numpy is first imported; an explicit
# environment value wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
