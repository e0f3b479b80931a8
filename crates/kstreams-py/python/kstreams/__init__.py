"""Kafka stream processing with Python logic on a Rust runtime.

Write the topology and its functions in Python; kstreams' Rust runtime does the Kafka
I/O, (de)serialization, state stores and their changelogs, commits, exactly-once and
rebalances. The GIL is taken only to run your functions.

    from kstreams import App, StreamsBuilder

    builder = StreamsBuilder()
    (builder.stream("payments")
        .filter(lambda key, value: value["amount"] > 1000)
        .map_values(lambda value: {"customer": value["customer"], "alert": "large"})
        .to("alerts"))
    App("large-payments", "localhost:9092").run(builder)

Test the same builder without a broker with :class:`TestDriver`.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Optional

from ._kstreams import (
    KGroupedStream,
    KStream,
    KeyValueStore,
    KTable,
    ProcessorContext,
    SessionWindows,
    StreamsBuilder,
    TestDriver,
    TimeWindows,
    WindowedKStream,
    WindowedKTable,
    __version__,
)
from ._kstreams import App as _NativeApp
from .windowing import Windowed

__all__ = [
    "App",
    "KGroupedStream",
    "KStream",
    "KTable",
    "KeyValueStore",
    "ProcessorContext",
    "SessionWindows",
    "StreamsBuilder",
    "TestDriver",
    "TimeWindows",
    "Windowed",
    "WindowedKStream",
    "WindowedKTable",
    "__version__",
]


def _interrupt(signum: int, frame: Optional[FrameType]) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class App(_NativeApp):
    """An application: id, brokers and settings; runs a :class:`StreamsBuilder`'s topology.

    Keyword settings: ``guarantee`` ("at_least_once" or "exactly_once"), ``num_threads``,
    ``commit_interval_ms``, ``state_dir``, ``auto_offset_reset`` ("earliest" or
    "latest"), ``on_error`` ("fail", "continue" or "dead_letter"), ``dead_letter_topic``
    and ``config`` (librdkafka settings for every client).
    """

    def run(self, builder: StreamsBuilder, poll_interval: float = 0.2) -> None:
        """Starts the topology and runs it until Ctrl-C or SIGTERM, then closes cleanly.

        Raises ``RuntimeError`` if the app fails (a record's error under
        ``on_error="fail"``, say).
        """
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.start(builder)
            while self.poll(poll_interval):
                pass
            if self.state != "NOT_RUNNING":
                raise RuntimeError(f"the app stopped in state {self.state}")
        except KeyboardInterrupt:
            pass
        finally:
            self.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def __enter__(self) -> "App":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
