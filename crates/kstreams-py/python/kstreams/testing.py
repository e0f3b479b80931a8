"""Helpers for testing an application against a broker: an in-process broker, topics,
input and output.

    from kstreams.testing import EmbeddedBroker, create_topics, produce, consume

    broker = EmbeddedBroker()
    create_topics(broker, ["in", "out"], partitions=2)
    produce(broker.bootstrap, "in", [("k", '{"amount": 5}')])
    assert consume(broker.bootstrap, "out", 1) == [("k", '{"amount": 5}')]
"""

from __future__ import annotations

from typing import Union

from ._kstreams import EmbeddedBroker, consume, create_topics_at, produce

__all__ = ["EmbeddedBroker", "consume", "create_topics", "produce"]


def create_topics(
    cluster: Union[EmbeddedBroker, str], topics: list[str], partitions: int = 1
) -> None:
    """Creates ``topics`` on an :class:`EmbeddedBroker` or on the brokers at a bootstrap
    address (``"host:port"``)."""
    if isinstance(cluster, EmbeddedBroker):
        cluster.create_topics(topics, partitions)
    else:
        create_topics_at(cluster, topics, partitions)
