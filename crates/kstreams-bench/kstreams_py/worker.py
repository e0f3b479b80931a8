"""The kstreams Python side of `peer_bench`: the Quix Streams worker's functions
(`../quix/worker.py`) on kstreams' Python package, one workload as one process, until
SIGTERM. Same arguments, same output bytes' meaning (JSON values, string keys).

    python worker.py --workload w1 --bootstrap 127.0.0.1:9092 --input in --output out \
        --group g --state-dir /tmp/s --commit-interval 5.0
"""

import argparse

from kstreams import App, StreamsBuilder, TimeWindows


def keep(key, purchase):
    """The benchmarks' filter: drops small amounts (about 1 record in 100)."""
    return purchase["amount"] >= 10.0


def normalized(purchase):
    """The benchmarks' map_values: upper-cases the country code."""
    purchase["country"] = purchase["country"].upper()
    return purchase


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=["w1", "w2", "w3", "w4"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--commit-interval", type=float, default=5.0)
    p.add_argument("--consumer-config", action="append", default=[])
    a = p.parse_args()

    builder = StreamsBuilder()
    source = builder.stream(a.input)
    if a.workload in ("w1", "w4"):
        source.filter(keep).map_values(normalized).to(a.output)
    elif a.workload == "w2":
        # Counted in Rust: the count itself needs no Python function.
        source.group_by_key().count("counts").to_stream().to(a.output)
    else:
        (
            source.group_by_key()
            .windowed_by(TimeWindows.tumbling(60_000, grace_ms=5_000))
            .count("counts")
            .to_stream()
            .map(lambda w, n: (w.key, {"start": w.start, "end": w.end, "value": n}))
            .to(a.output)
        )
    app = App(
        a.group,
        a.bootstrap,
        state_dir=a.state_dir,
        commit_interval_ms=int(a.commit_interval * 1000),
        config=dict(item.split("=", 1) for item in a.consumer_config),
    )
    app.run(builder)


if __name__ == "__main__":
    main()
