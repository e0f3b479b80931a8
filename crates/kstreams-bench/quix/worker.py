"""The Quix Streams side of `peer_bench`: one workload as one process, until SIGTERM.

`peer_bench` starts this script under the Quix Streams virtual environment it manages,
measures the process from outside (CPU from /proc, peak RSS from wait4) and reads the
output topic itself, so nothing here counts or times anything. Each workload does what
the kstreams topology of the same name in `src/peers/workloads.rs` does, and writes the
same bytes: JSON values, string keys.

    python worker.py --workload w1 --bootstrap 127.0.0.1:9092 --input in --output out \
        --group g --state-dir /tmp/s --commit-interval 5.0
"""

import argparse

from quixstreams import Application


def keep(purchase):
    """The benchmarks' filter: drops small amounts (about 1 record in 100)."""
    return purchase["amount"] >= 10.0


def normalized(purchase):
    """The benchmarks' map_values: upper-cases the country code."""
    purchase["country"] = purchase["country"].upper()
    return purchase


def count(_value, state):
    """Purchases per key so far, in the changelogged RocksDB store."""
    n = state.get("count", 0) + 1
    state.set("count", n)
    return n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=["w1", "w2", "w3", "w4"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--commit-interval", type=float, default=5.0)
    # librdkafka settings given to every system alike, as key=value.
    p.add_argument("--consumer-config", action="append", default=[])
    p.add_argument("--producer-config", action="append", default=[])
    a = p.parse_args()

    def pairs(items):
        return dict(item.split("=", 1) for item in items)

    app = Application(
        broker_address=a.bootstrap,
        consumer_group=a.group,
        auto_offset_reset="earliest",
        commit_interval=a.commit_interval,
        state_dir=a.state_dir,
        consumer_extra_config=pairs(a.consumer_config),
        producer_extra_config=pairs(a.producer_config),
        loglevel="WARNING",
    )
    source = app.topic(a.input, key_deserializer="str", value_deserializer="json")
    sink = app.topic(a.output, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(source)
    if a.workload in ("w1", "w4"):
        sdf = sdf.filter(keep).apply(normalized)
    elif a.workload == "w2":
        sdf = sdf.apply(count, stateful=True)
    else:
        # Emits {"start", "end", "value"} on every update, as the kstreams side does.
        sdf = sdf.tumbling_window(duration_ms=60_000, grace_ms=5_000).count().current()
    sdf.to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()
