"""Helpers for testing an application against a broker: an in-process broker, topics,
input and output.

    from kstreams.testing import EmbeddedBroker, create_topics, produce, consume

    broker = EmbeddedBroker()
    create_topics(broker, ["in", "out"], partitions=2)
    produce(broker.bootstrap, "in", [("k", '{"amount": 5}')])
    assert consume(broker.bootstrap, "out", 1) == [("k", '{"amount": 5}')]
"""

from __future__ import annotations

import os
from typing import Optional, Union

from ._kstreams import EmbeddedBroker, consume, create_topics_at, produce

__all__ = ["EmbeddedBroker", "bootstrap_of", "cluster_from_env", "consume", "create_topics", "produce"]

Cluster = Union[EmbeddedBroker, str]


def cluster_from_env() -> Cluster:
    """The brokers at ``$KSTREAMS_BOOTSTRAP`` if set, else a new :class:`EmbeddedBroker`
    (which lives as long as the returned object)."""
    return os.environ.get("KSTREAMS_BOOTSTRAP") or EmbeddedBroker()


def bootstrap_of(cluster: Cluster) -> str:
    """The ``host:port`` to give clients of ``cluster``."""
    return cluster if isinstance(cluster, str) else cluster.bootstrap


def create_topics(
    cluster: Cluster,
    topics: list[str],
    partitions: int = 1,
    config: Optional[dict[str, str]] = None,
) -> None:
    """Creates ``topics`` on an :class:`EmbeddedBroker` or on the brokers at a bootstrap
    address (``"host:port"``), with topic ``config`` such as ``{"retention.ms": "-1"}``."""
    if isinstance(cluster, EmbeddedBroker):
        cluster.create_topics(topics, partitions, config)
    else:
        create_topics_at(cluster, topics, partitions, config)
