"""The velocity detector in Python: at least 12 records of one customer within a minute.

The same detection as the Rust one (`apps/records/src/detectors/velocity.rs`): a count per
customer in hopping windows of 60 s every 20 s (30 s grace), one alert per window when its
count reaches the threshold. It runs as its own application on kstreams' runtime:

    python apps/records/python/velocity.py --bootstrap localhost:9092
    records detector --python apps/records/python/velocity.py --bootstrap localhost:9092

and is tested with pytest in `tests/` against the Rust detector's alerts.
"""

from __future__ import annotations

import argparse
from typing import Any, Optional

from kstreams import App, StreamsBuilder, TimeWindows, Windowed

NAME = "velocity"
THRESHOLD = 12
WINDOWS = TimeWindows.hopping(size_ms=60_000, advance_ms=20_000, grace_ms=30_000)


def count_record(customer: str, enriched: dict[str, Any], burst: dict[str, Any]) -> dict[str, Any]:
    """The window's count and its latest record: all an alert needs."""
    record = enriched["record"]
    return {
        "count": burst["count"] + 1,
        "record_id": record["record_id"],
        "ts": record["ts"],
        "sent_ms": record["sent_ms"],
    }


def alerts(window: Windowed, burst: Optional[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """One alert when a window's count reaches the threshold (not again after)."""
    if burst is None or burst["count"] != THRESHOLD:
        return []
    return [
        (
            window.key,
            {
                "detector": NAME,
                "customer_id": window.key,
                "record_id": burst["record_id"],
                "ts": burst["ts"],
                "reason": f"{THRESHOLD} records within a minute",
                "sent_ms": burst["sent_ms"],
                "window_start": window.start,
            },
        )
    ]


def build(source: str = "records-enriched", sink: str = "alerts") -> StreamsBuilder:
    """The detector's topology: enriched records (keyed by customer) in, alerts out."""
    builder = StreamsBuilder()
    (
        builder.stream(source)
        .group_by_key()
        .windowed_by(WINDOWS)
        .aggregate(
            lambda: {"count": 0, "record_id": "", "ts": 0, "sent_ms": 0},
            count_record,
            name="velocity-counts",
            # A window is never looked at again once closed (size plus grace), and one
            # created and expired between two commits never reaches the changelog.
            retention_ms=90_000,
        )
        .to_stream()
        .flat_map(alerts)
        .to(sink)
    )
    return builder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--application-id", default=f"records-detector-{NAME}-py")
    p.add_argument("--state-dir")
    p.add_argument("--commit-ms", type=int, default=1000)
    p.add_argument("--input", default="records-enriched")
    p.add_argument("--output", default="alerts")
    p.add_argument(
        "--dead-letter-topic",
        help="send records the detector fails on here (it must exist); default: log, count, skip",
    )
    a = p.parse_args()
    app = App(
        a.application_id,
        a.bootstrap,
        state_dir=a.state_dir,
        commit_interval_ms=a.commit_ms,
        # A bad record never stops the detector: it is logged and counted, or dead-lettered.
        on_error="dead_letter" if a.dead_letter_topic else "continue",
        dead_letter_topic=a.dead_letter_topic,
    )
    app.run(build(source=a.input, sink=a.output))


if __name__ == "__main__":
    main()
