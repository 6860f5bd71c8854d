"""Builds the worker's shared parts once: catalog, model, store and the stages the agents call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from streams.catalog import Catalog
from streams.config import Settings
from streams.pipeline import CommentsStage, DashboardStage, RoomsStage
from streams.store import RedisStore, connect

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    store: RedisStore
    rooms: RoomsStage
    dashboard: DashboardStage
    comments: CommentsStage


def build(settings: Settings, store: RedisStore | None = None) -> Runtime:
    """Load the catalog and the ONNX models and wire the stages (``store`` defaults to LIVECART_REDIS_URL)."""
    from models.cache import CachedModel
    from models.linking import link
    from models.serving import CommentModel

    catalog = Catalog.load(settings.catalog_path or None)
    store = store or RedisStore(connect(settings.redis_url), settings.key_prefix, settings.state_ttl_s, settings.dedupe_ttl_s)
    model = CommentModel.load(settings.model_dir or None, device=settings.device, threads=settings.ort_threads, lanes=settings.ort_lanes,
                              max_batch=settings.batch_size, variant=settings.model_variant)
    log.info("catalog: %d rooms, %d entries; model %s on %s", len(catalog.rooms), len(catalog), model.version, model.providers)
    return Runtime(
        settings, catalog, store,
        RoomsStage(catalog, store, settings), DashboardStage(catalog, store, settings),
        CommentsStage(CachedModel(model, settings.analysis_cache), link, catalog, settings),
    )


@lru_cache(maxsize=1)
def get() -> Runtime:
    """The worker's runtime, built from the environment on first use."""
    from streams.app import settings

    return build(settings)
