"""A Python exception in user code, under each `on_error` choice."""

from __future__ import annotations

import pytest

from kstreams import StreamsBuilder, TestDriver


def ratio(k: str, v: dict) -> dict:
    return {"ratio": v["a"] / v["b"]}


def builder() -> StreamsBuilder:
    b = StreamsBuilder()
    b.stream("in").map_values(lambda v: ratio("", v)).to("out")
    return b


def test_fail_stops_with_the_traceback() -> None:
    d = TestDriver(builder())
    d.pipe("in", "k", {"a": 1, "b": 2})
    with pytest.raises(RuntimeError) as e:
        d.pipe("in", "k", {"a": 1, "b": 0})
    text = str(e.value)
    assert "ZeroDivisionError" in text
    # Where it came from: the topic, partition and offset, and the line of user code.
    assert "in" in text and "offset 1" in text, text
    assert "ratio" in text and "test_errors.py" in text, text
    assert d.read("out") == [("k", {"ratio": 0.5})]


def test_continue_skips_and_counts() -> None:
    d = TestDriver(builder(), on_error="continue")
    d.pipe("in", "k", {"a": 1, "b": 0})
    d.pipe("in", "k", {"a": 3, "b": 1})
    assert d.read("out") == [("k", {"ratio": 3.0})]
    assert d.failed_records == 1


def test_dead_letter_keeps_the_input_and_the_traceback() -> None:
    d = TestDriver(builder(), on_error="dead_letter", dead_letter_topic="in-dlq")
    d.pipe("in", "k", {"a": 1, "b": 0})
    d.pipe("in", "k", {"a": 4, "b": 2})
    assert d.read("out") == [("k", {"ratio": 2.0})]
    [dead] = d.read_raw("in-dlq")
    assert dead["key"] == b"k"
    assert dead["value"] == b'{"a": 1, "b": 0}'
    headers = {k: (v or b"").decode() for k, v in dead["headers"].items()}
    message = " ".join(headers.values())
    assert "ZeroDivisionError: division by zero" in message, headers
    assert "Traceback" in message and "in ratio" in message, headers
    assert d.failed_records == 1


def test_dead_letter_needs_a_topic() -> None:
    with pytest.raises(ValueError, match="dead_letter_topic"):
        TestDriver(builder(), on_error="dead_letter")


def test_a_wrong_return_shape_is_a_processing_error_too() -> None:
    b = StreamsBuilder()
    b.stream("in").map(lambda k, v: v).to("out")
    d = TestDriver(b, on_error="continue")
    d.pipe("in", "k", {"not": "a pair"})
    assert d.read("out") == []
    assert d.failed_records == 1


def test_a_bad_json_input_names_the_record() -> None:
    b = StreamsBuilder()
    b.stream("in", value="json").to("out")
    d = TestDriver(b)
    with pytest.raises(RuntimeError, match="(?s)in.*offset 0.*JSON"):
        d.pipe("in", "k", "{not json", value_format="str")
