"""The Python velocity detector raises the same alerts as the Rust one over the same input.

`records offline` generates records (anomalies and look-alikes included), enriches them
as ingest does, runs the Rust detector in the test driver, and writes both the input and
the alerts; the Python detector then reads the same input in kstreams' test driver."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kstreams import TestDriver

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import velocity  # noqa: E402


def alert_key(a: dict) -> tuple:
    return (a["customer_id"], a["window_start"], a["record_id"])


def test_python_velocity_matches_the_rust_detector(offline_velocity: Path) -> None:
    lines = (offline_velocity / "enriched.jsonl").read_text().splitlines()
    rust = [json.loads(a) for a in (offline_velocity / "alerts.jsonl").read_text().splitlines()]

    driver = TestDriver(velocity.build(), partitions=2)
    for line in lines:
        enriched = json.loads(line)
        record = enriched["record"]
        driver.pipe("records-enriched", record["customer_id"], enriched, record["ts"])
    python = [alert for _, alert in driver.read("alerts")]

    # Velocity anomalies are injected at a rate that gives dozens of alerts.
    assert len(rust) > 50, len(rust)
    assert sorted(python, key=alert_key) == sorted(rust, key=alert_key)
