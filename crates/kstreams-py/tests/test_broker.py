"""Apps on a broker: Apache Kafka when KSTREAMS_BOOTSTRAP names one (`.ci/run` does),
otherwise librdkafka's mock cluster in process. Either way these tests run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from kstreams import App, StreamsBuilder
from kstreams.testing import Cluster, bootstrap_of, cluster_from_env, consume, create_topics, produce

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    yield cluster_from_env()


@pytest.fixture(scope="module")
def bootstrap(cluster: Cluster) -> str:
    return bootstrap_of(cluster)


def names(prefix: str) -> tuple[str, str, str]:
    run = uuid.uuid4().hex[:8]
    return f"{prefix}-{run}", f"{prefix}-in-{run}", f"{prefix}-out-{run}"


def test_an_app_filters_and_maps_on_the_broker(
    cluster: Cluster, bootstrap: str, tmp_path: Path
) -> None:
    app_id, source, sink = names("py-filter")
    create_topics(cluster, [source, sink], partitions=2)
    builder = StreamsBuilder()
    (
        builder.stream(source)
        .filter(lambda k, v: v["amount"] >= 100)
        .map_values(lambda v: {"alert": "large", "amount": v["amount"]})
        .to(sink)
    )
    app = App(app_id, bootstrap, state_dir=str(tmp_path), commit_interval_ms=100)
    app.start(builder)
    try:
        assert app.wait_until_running(60)
        produce(
            bootstrap,
            source,
            [(f"c{i}", json.dumps({"amount": i * 10})) for i in range(30)],
        )
        out = consume(bootstrap, sink, 20, timeout=60)
        assert sorted(json.loads(v or "null")["amount"] for _, v in out) == [
            i * 10 for i in range(10, 30)
        ]
        assert {k for k, _ in out} == {f"c{i}" for i in range(10, 30)}
    finally:
        app.close()
    assert app.state == "CREATED" or app.state in {"NOT_RUNNING"}


def run_count_app(bootstrap: str, app_id: str, state: Path, source: str, sink: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "apps" / "count_app.py"), bootstrap, app_id, str(state), source, sink],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


def test_counts_survive_a_restart_from_the_changelog_and_sigterm_closes_cleanly(
    cluster: Cluster, bootstrap: str, tmp_path: Path
) -> None:
    app_id, source, sink = names("py-count")
    # The mock cluster creates no topic on request: the changelog too is made here.
    create_topics(cluster, [source, sink, f"{app_id}-counts-changelog"], partitions=2)
    state = tmp_path / "state"

    first = run_count_app(bootstrap, app_id, state, source, sink)
    try:
        produce(bootstrap, source, [("ann", "{}"), ("bob", "{}"), ("ann", "{}")])
        counts = consume(bootstrap, sink, 3, timeout=90)
    finally:
        code, out, err = stop(first)
    assert code == 0, err
    assert out.splitlines() == ["starting", "closed"], (out, err)
    assert sorted(counts) == [("ann", "1"), ("ann", "2"), ("bob", "1")]

    # Without its local state, the second run restores the counts from the changelog.
    shutil.rmtree(state)
    second = run_count_app(bootstrap, app_id, state, source, sink)
    try:
        produce(bootstrap, source, [("ann", "{}"), ("bob", "{}")])
        counts = consume(bootstrap, sink, 5, timeout=90)
    finally:
        code, out, err = stop(second)
    assert code == 0, err
    assert sorted(counts[3:]) == [("ann", "3"), ("bob", "2")], counts
