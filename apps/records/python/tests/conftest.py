"""Shared by the records Python tests: `records` itself, and a broker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[4]


def records_command() -> list[str]:
    """`records`: $RECORDS_BIN (`.ci/run` sets it), or built by cargo."""
    binary = os.environ.get("RECORDS_BIN")
    return [binary] if binary else ["cargo", "run", "-q", "-p", "records", "--"]


@pytest.fixture(scope="session")
def offline_velocity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`records offline` for velocity: generated, enriched input and the Rust alerts."""
    out = tmp_path_factory.mktemp("velocity")
    subprocess.run(
        [*records_command(), "offline", "--detector", "velocity", "--dir", str(out)],
        cwd=REPO,
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def kafka() -> str:
    """Apache Kafka at $KSTREAMS_BOOTSTRAP (`.ci/run` starts one). Not the mock cluster:
    on it, a detector reading these 60,000 records stalls part-way (see the README's
    Python section), so this fails rather than skips without Kafka."""
    bootstrap = os.environ.get("KSTREAMS_BOOTSTRAP")
    if not bootstrap:
        pytest.fail("set KSTREAMS_BOOTSTRAP to an Apache Kafka broker (tools/kafka/run start)")
    return bootstrap
