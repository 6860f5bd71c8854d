"""Error types of the streams package, under one root exception."""

from __future__ import annotations


class LivecartError(Exception):
    """Root of every error livecart raises on purpose."""


class InvalidEvent(LivecartError):
    """An event that cannot be decoded or validated; it goes to the dead-letter topic.

    ``reason`` is a one-line human-readable explanation (what was expected, what arrived);
    ``where`` names the source (``topic[partition]@offset``) when known.
    """

    def __init__(self, reason: str, where: str = "") -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)

    def at(self, where: str) -> InvalidEvent:
        """Return a copy of this error that names its source location."""
        err = InvalidEvent(self.reason, where)
        err.__cause__ = self.__cause__
        return err


class CatalogError(LivecartError):
    """A catalog file or catalog entry that cannot be loaded."""


class StoreUnavailable(LivecartError):
    """The state store (Redis) cannot be reached after the configured retries."""
