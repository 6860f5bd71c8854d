"""Catalog agent: live.catalog (compacted) entries upsert the in-memory catalog; bad entries are dead-lettered."""

from __future__ import annotations

from typing import Any

from streams import runtime, topics
from streams.agents.io import incoming, publish, topic
from streams.app import app
from streams.errors import InvalidEvent
from streams.pipeline import catalog_upsert, dead_letter


@app.agent(topic(topics.CATALOG.name), name="livecart.catalog")
async def catalog(stream: Any) -> None:
    rt = runtime.get()
    async for event in stream.events():
        msg = incoming(event)
        try:
            room = catalog_upsert(rt.catalog, msg)
        except InvalidEvent as err:
            await publish([dead_letter(msg, err, "catalog")])
            continue
        rt.rooms.forget_room(room)
