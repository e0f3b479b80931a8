"""The Python velocity detector as its own application on Apache Kafka, started by
`records detector --python`, raises the Rust detector's alerts and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from conftest import REPO, records_command
from test_velocity import alert_key

from kstreams.testing import consume, create_topics, produce

HERE = Path(__file__).resolve().parents[1]


def test_records_detector_python_on_kafka(kafka: str, offline_velocity: Path, tmp_path: Path) -> None:
    bootstrap = kafka
    run = uuid.uuid4().hex[:8]
    source, sink, app_id = f"enriched-{run}", f"alerts-{run}", f"velocity-py-{run}"
    # The records' event time is weeks old: no retention, or Kafka would delete them.
    create_topics(
        bootstrap,
        [source, sink, f"{app_id}-velocity-counts-changelog"],
        partitions=2,
        config={"retention.ms": "-1"},
    )
    rust = [json.loads(a) for a in (offline_velocity / "alerts.jsonl").read_text().splitlines()]
    enriched = (offline_velocity / "enriched.jsonl").read_text().splitlines()
    records = [json.loads(e)["record"] for e in enriched]
    # Event time is the record's: ingest writes it as the Kafka timestamp, and so does this.
    produce(
        bootstrap,
        source,
        [(r["customer_id"], e) for r, e in zip(records, enriched)],
        timestamps=[r["ts"] for r in records],
    )

    # `records detector --python` runs the script in place of itself; the test's own
    # arguments pick fresh topics and an application id.
    script = tmp_path / "detector.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import velocity\n"
        f"sys.argv += ['--application-id', {app_id!r}, '--input', {source!r}, '--output', {sink!r}]\n"
        "velocity.main()\n"
    )
    env = dict(os.environ, RECORDS_PYTHON=sys.executable)
    p = subprocess.Popen(
        [*records_command(), "detector", "--python", str(script), "--bootstrap", bootstrap,
         "--state-dir", str(tmp_path / "state"), "--commit-ms", "200"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = consume(bootstrap, sink, len(rust), timeout=180)
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    python = [json.loads(v or "null") for _, v in out]
    assert sorted(python, key=alert_key) == sorted(rust, key=alert_key)
