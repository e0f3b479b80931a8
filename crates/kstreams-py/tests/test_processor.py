"""The Processor API: a Python class with a state store and punctuations."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from kstreams import ProcessorContext, StreamsBuilder, TestDriver


class DropRetries:
    """Forwards the first payment of each id; remembers ids in store `seen`."""

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self.seen = context.get_state_store("seen")

    def process(self, key: Optional[str], value: Any) -> None:
        if self.seen.get(value["id"]) is None:
            self.seen.put(value["id"], self.context.timestamp)
            self.context.forward(key, value)


def test_a_processor_with_a_store_drops_retries() -> None:
    b = StreamsBuilder()
    b.add_state_store("seen", value="json")
    b.stream("payments").process(DropRetries, stores=["seen"]).to("once")
    d = TestDriver(b)
    d.pipe("payments", "ann", {"id": "p1", "amount": 20}, 1_000)
    d.pipe("payments", "ann", {"id": "p1", "amount": 20}, 2_000)
    d.pipe("payments", "bob", {"id": "p2", "amount": 5}, 3_000)
    assert d.read("once") == [("ann", {"id": "p1", "amount": 20}), ("bob", {"id": "p2", "amount": 5})]
    assert d.store("seen") == {"p1": 1_000, "p2": 3_000}


class Totals:
    """Sums amounts per customer in a store; every minute of stream time forwards and
    clears the totals; `range` and `delete` on the store."""

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self.store = context.get_state_store("totals")
        context.schedule(60_000, self.flush)

    def process(self, key: Optional[str], value: Any) -> None:
        total = self.store.get(key) or 0
        self.store.put(key, total + value["amount"])

    def flush(self, timestamp: int) -> None:
        for customer, total in self.store.range("a", "z"):
            self.context.forward(customer, {"total": total, "at": timestamp})
            assert self.store.delete(customer) == total


def test_stream_time_punctuation_forwards_and_clears() -> None:
    b = StreamsBuilder()
    b.add_state_store("totals", persistent=False)
    b.stream("payments").process(Totals, stores=["totals"]).to("totals-out")
    d = TestDriver(b)
    d.pipe("payments", "ann", {"amount": 5}, 1_000)
    d.pipe("payments", "bob", {"amount": 7}, 2_000)
    d.pipe("payments", "ann", {"amount": 1}, 3_000)
    # Stream time passes the minute: the punctuation fires after that record.
    d.pipe("payments", "cid", {"amount": 2}, 61_000)
    # As Kafka Streams: a stream-time punctuation fires with the first record, then each
    # time stream time crosses the interval's grid, with the stream time as its time.
    assert d.read("totals-out") == [
        ("ann", {"total": 5, "at": 1_000}),
        ("ann", {"total": 1, "at": 61_000}),
        ("bob", {"total": 7, "at": 61_000}),
        ("cid", {"total": 2, "at": 61_000}),
    ]
    assert d.store("totals") == {}


def test_an_exception_in_a_processor_goes_through_the_handler() -> None:
    class Broken:
        def process(self, key: Any, value: Any) -> None:
            raise ValueError(f"cannot handle {value}")

    b = StreamsBuilder()
    b.stream("in").process(Broken).to("out")
    d = TestDriver(b, on_error="dead_letter", dead_letter_topic="dlq")
    d.pipe("in", "k", {"x": 1})
    [dead] = d.read_raw("dlq")
    message = " ".join((v or b"").decode() for v in dead["headers"].values())
    assert "ValueError: cannot handle {'x': 1}" in message
    assert d.failed_records == 1


def test_the_context_is_refused_outside_the_processor() -> None:
    kept: list[ProcessorContext] = []

    class Keep:
        def init(self, context: ProcessorContext) -> None:
            kept.append(context)

        def process(self, key: Any, value: Any) -> None:
            pass

    b = StreamsBuilder()
    b.stream("in").process(Keep).to("out")
    d = TestDriver(b)
    d.pipe("in", "k", {})
    with pytest.raises(RuntimeError, match="only inside"):
        kept[0].forward("k", {})
