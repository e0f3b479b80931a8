"""Tumbling, hopping and session windows."""

from __future__ import annotations

import pytest

from kstreams import SessionWindows, StreamsBuilder, TestDriver, TimeWindows, Windowed


def windowed_counts(windows: TimeWindows | SessionWindows, emit: str = "update") -> StreamsBuilder:
    b = StreamsBuilder()
    (
        b.stream("clicks")
        .group_by_key()
        .windowed_by(windows, emit=emit)
        .count("clicks-per-window")
        .to_stream()
        .map(lambda w, n: (w.key, {"start": w.start, "end": w.end, "count": n}))
        .to("counts")
    )
    return b


def test_tumbling_windows_count_per_key_and_window() -> None:
    d = TestDriver(windowed_counts(TimeWindows.tumbling(60_000)))
    for ts in [1_000, 30_000, 61_000]:
        d.pipe("clicks", "ann", {}, ts)
    d.pipe("clicks", "bob", {}, 62_000)
    assert d.read("counts") == [
        ("ann", {"start": 0, "end": 60_000, "count": 1}),
        ("ann", {"start": 0, "end": 60_000, "count": 2}),
        ("ann", {"start": 60_000, "end": 120_000, "count": 1}),
        ("bob", {"start": 60_000, "end": 120_000, "count": 1}),
    ]


def test_hopping_windows_update_every_overlapping_window() -> None:
    d = TestDriver(windowed_counts(TimeWindows.hopping(60_000, 20_000)))
    d.pipe("clicks", "ann", {}, 45_000)
    starts = sorted(v["start"] for _, v in d.read("counts"))
    # 45 s lies in the windows starting at 0, 20 s and 40 s.
    assert starts == [0, 20_000, 40_000]


def test_emit_final_waits_for_the_window_to_close() -> None:
    d = TestDriver(windowed_counts(TimeWindows.tumbling(10_000, grace_ms=0), emit="final"))
    d.pipe("clicks", "ann", {}, 1_000)
    d.pipe("clicks", "ann", {}, 2_000)
    assert d.read("counts") == []
    # Stream time passes the end of [0, 10 s): its one final count comes out.
    d.pipe("clicks", "ann", {}, 10_500)
    assert d.read("counts") == [("ann", {"start": 0, "end": 10_000, "count": 2})]


def test_session_windows_merge_with_the_merger() -> None:
    b = StreamsBuilder()
    (
        b.stream("clicks")
        .group_by_key()
        # The grace keeps [0, 0] open when the record at 8 s arrives: a record never
        # bridges into a closed session.
        .windowed_by(SessionWindows(gap_ms=5_000, grace_ms=10_000))
        .aggregate(
            lambda: [],
            lambda k, v, agg: agg + [v["page"]],
            merger=lambda k, a, c: sorted(a + c),
            name="sessions",
        )
        .to_stream()
        .filter(lambda w, pages: pages is not None)
        .map(lambda w, pages: (w.key, {"start": w.start, "end": w.end, "pages": pages}))
        .to("sessions")
    )
    d = TestDriver(b)
    d.pipe("clicks", "ann", {"page": "a"}, 0)
    d.pipe("clicks", "ann", {"page": "c"}, 8_000)
    # Within 5 s of both: bridges the two sessions into one.
    d.pipe("clicks", "ann", {"page": "b"}, 4_000)
    # As Kafka Streams: the sessions merge first, then the record is aggregated into them.
    assert d.read("sessions")[-1] == ("ann", {"start": 0, "end": 8_000, "pages": ["a", "c", "b"]})


def test_windowed_keys_are_named_tuples_and_must_be_mapped_before_to() -> None:
    b = StreamsBuilder()
    b.stream("clicks").group_by_key().windowed_by(TimeWindows.tumbling(1_000)).reduce(
        lambda a, v: {"n": a["n"] + v["n"]}
    ).to_stream().peek(lambda w, v: seen.append(w)).to("raw")
    seen: list[Windowed] = []
    d = TestDriver(b)
    with pytest.raises(RuntimeError, match="str"):
        d.pipe("clicks", "ann", {"n": 1}, 500)
    assert seen == [Windowed("ann", 0, 1_000)]


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="between 1 ms and the size"):
        TimeWindows.hopping(10, 20)
    with pytest.raises(ValueError, match="at least 1 ms"):
        SessionWindows(0)
    with pytest.raises(ValueError, match="merger"):
        StreamsBuilder().stream("t").group_by_key().windowed_by(SessionWindows(10)).aggregate(
            lambda: 0, lambda k, v, a: a
        )
