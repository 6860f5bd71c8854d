"""Benchmark probe, loaded only by benchmark workers (bench/probe on PYTHONPATH): counts Redis round trips.

When LIVECART_BENCH_PROBE names a file, redis.asyncio's pipeline ``execute`` and single-command
``execute_command`` are wrapped to count round trips and commands, and a daemon thread writes the
totals to that file as JSON every 0.5 s. Without the variable this module does nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

_PATH = os.environ.get("LIVECART_BENCH_PROBE")
COUNTS = {"round_trips": 0, "commands": 0, "pipelines": 0}


def _install() -> None:
    from redis.asyncio.client import Pipeline, Redis

    pipe_execute = Pipeline.execute
    single = Redis.execute_command

    async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        n = len(self.command_stack)
        if n:
            COUNTS["round_trips"] += 1
            COUNTS["pipelines"] += 1
            COUNTS["commands"] += n
        return await pipe_execute(self, *args, **kwargs)

    async def execute_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(self, Pipeline):
            COUNTS["round_trips"] += 1
            COUNTS["commands"] += 1
        return await single(self, *args, **kwargs)

    Pipeline.execute = execute  # type: ignore[method-assign]
    Redis.execute_command = execute_command  # type: ignore[method-assign]

    def dump() -> None:
        while True:
            tmp = f"{_PATH}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(COUNTS, fh)
            os.replace(tmp, str(_PATH))
            time.sleep(0.5)

    threading.Thread(target=dump, name="bench-probe", daemon=True).start()


if _PATH:
    _install()
