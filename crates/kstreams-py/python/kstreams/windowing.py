"""The key of a windowed aggregate's results."""

from __future__ import annotations

from typing import Any, NamedTuple


class Windowed(NamedTuple):
    """A key and the window its aggregate belongs to: ``start`` inclusive, ``end``
    exclusive, in ms of event time."""

    key: Any
    start: int
    end: int
