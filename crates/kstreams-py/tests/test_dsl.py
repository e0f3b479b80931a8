"""The DSL's operations, run by the test driver."""

from __future__ import annotations

from kstreams import StreamsBuilder, TestDriver


def test_filter_and_map_values_keep_keys() -> None:
    b = StreamsBuilder()
    (
        b.stream("payments")
        .filter(lambda k, v: v["amount"] > 100)
        .map_values(lambda v: {"customer": v["customer"], "big": True})
        .to("large")
    )
    d = TestDriver(b)
    d.pipe("payments", "a", {"customer": "a", "amount": 50})
    d.pipe("payments", "b", {"customer": "b", "amount": 500})
    d.pipe("payments", "c", {"customer": "c", "amount": 101.5})
    assert d.read("large") == [
        ("b", {"customer": "b", "big": True}),
        ("c", {"customer": "c", "big": True}),
    ]
    # A read returns only what came since the last one.
    assert d.read("large") == []


def test_filter_not_and_peek() -> None:
    seen: list[str] = []
    b = StreamsBuilder()
    b.stream("in", value="str").peek(lambda k, v: seen.append(v)).filter_not(
        lambda k, v: v.startswith("x")
    ).to("out", value="str")
    d = TestDriver(b)
    for v in ["a", "xb", "c"]:
        d.pipe("in", "k", v, value_format="str")
    assert d.read("out", value_format="str") == [("k", "a"), ("k", "c")]
    assert seen == ["a", "xb", "c"]


def test_map_rekeys_and_flat_map_splits() -> None:
    b = StreamsBuilder()
    s = b.stream("lines", value="str")
    s.map(lambda k, v: (v.split()[0], len(v))).to("first-word")
    s.flat_map(lambda k, v: [(w, 1) for w in v.split()]).to("words")
    s.flat_map_values(lambda v: v.split()).to("values", value="str")
    d = TestDriver(b)
    d.pipe("lines", None, "hello big world", value_format="str")
    assert d.read("first-word") == [("hello", 15)]
    assert d.read("words") == [("hello", 1), ("big", 1), ("world", 1)]
    assert d.read("values", value_format="str") == [(None, "hello"), (None, "big"), (None, "world")]


def test_branch_sends_each_record_to_the_first_match_and_drops_the_rest() -> None:
    b = StreamsBuilder()
    small, medium = b.stream("in").branch(lambda k, v: v < 10, lambda k, v: v < 100)
    small.to("small")
    medium.to("medium")
    d = TestDriver(b)
    for n in [5, 50, 500, 7]:
        d.pipe("in", str(n), n)
    assert d.read("small") == [("5", 5), ("7", 7)]
    assert d.read("medium") == [("50", 50)]


def test_count_group_by_key_in_a_store() -> None:
    b = StreamsBuilder()
    b.stream("clicks").group_by_key().count("clicks-per-user").to_stream().to("counts")
    d = TestDriver(b)
    for user in ["ann", "bob", "ann", "ann"]:
        d.pipe("clicks", user, {"page": "/"})
    assert d.read("counts") == [("ann", 1), ("bob", 1), ("ann", 2), ("ann", 3)]
    assert d.store("clicks-per-user") == {"ann": 3, "bob": 1}


def test_group_by_repartitions_and_reduce_and_aggregate() -> None:
    b = StreamsBuilder()
    orders = b.stream("orders")
    by_city = orders.group_by(lambda k, v: v["city"])
    by_city.reduce(lambda agg, v: {"city": v["city"], "amount": agg["amount"] + v["amount"]}, "totals")
    by_city.aggregate(
        lambda: {"n": 0, "max": 0},
        lambda k, v, agg: {"n": agg["n"] + 1, "max": max(agg["max"], v["amount"])},
        "stats",
    ).to_stream().to("stats")
    d = TestDriver(b, partitions=3)
    d.pipe("orders", "o1", {"city": "Oslo", "amount": 10})
    d.pipe("orders", "o2", {"city": "Rome", "amount": 7})
    d.pipe("orders", "o3", {"city": "Oslo", "amount": 30})
    assert d.store("totals") == {
        "Oslo": {"city": "Oslo", "amount": 40},
        "Rome": {"city": "Rome", "amount": 7},
    }
    assert d.store("stats") == {"Oslo": {"n": 2, "max": 30}, "Rome": {"n": 1, "max": 7}}
    assert sorted(d.read("stats"), key=lambda kv: (kv[0], kv[1]["n"])) == [
        ("Oslo", {"n": 1, "max": 10}),
        ("Oslo", {"n": 2, "max": 30}),
        ("Rome", {"n": 1, "max": 7}),
    ]
    assert "orders" in d.describe() and "repartition" in d.describe()


def test_join_with_a_table() -> None:
    b = StreamsBuilder()
    customers = b.table("customers", store="customers")
    payments = b.stream("payments")
    payments.join(customers, lambda p, c: {**p, "country": c["country"]}).to("enriched")
    payments.left_join(customers, lambda p, c: c is None).to("unknown")
    d = TestDriver(b)
    d.pipe("customers", "ann", {"country": "NO"})
    d.pipe("payments", "ann", {"amount": 5})
    d.pipe("payments", "zed", {"amount": 9})
    assert d.read("enriched") == [("ann", {"amount": 5, "country": "NO"})]
    assert d.read("unknown") == [("ann", False), ("zed", True)]
    assert d.store("customers") == {"ann": {"country": "NO"}}


def test_table_filter_map_values_and_deletes() -> None:
    b = StreamsBuilder()
    b.table("limits").filter(lambda k, v: v is not None and v > 0).map_values(
        lambda v: v * 2
    ).to_stream().to("doubled")
    d = TestDriver(b)
    d.pipe("limits", "a", 5)
    d.pipe("limits", "b", -1)
    assert d.read("doubled") == [("a", 10)]


def test_bytes_and_str_formats() -> None:
    b = StreamsBuilder()
    b.stream("raw", key="bytes", value="bytes").map_values(lambda v: v[::-1]).to(
        "reversed", key="bytes", value="bytes"
    )
    d = TestDriver(b)
    d.pipe("raw", b"\x00k", b"abc", key_format="bytes", value_format="bytes")
    assert d.read("reversed", key_format="bytes", value_format="bytes") == [(b"\x00k", b"cba")]


def test_a_bad_format_name_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown format"):
        StreamsBuilder().stream("t", value="yaml")
