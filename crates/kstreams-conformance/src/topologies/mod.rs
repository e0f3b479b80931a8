//! The suite's topologies written with kstreams, one function per name of
//! `conformance/README.md`. The Java twins are in
//! `conformance/kafka-streams/src/main/java/dev/kstreams/conformance/Topologies.java`.

mod aggregations;
mod joins;
mod stateless;
mod windows;

use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, KStream, Produced, StreamsBuilder, Topology, TopologyError};

/// Topic names of one run of one topology.
pub struct Names<'a> {
    /// The run's prefix of input topics: `conf-<run>-`.
    pub prefix: &'a str,
    /// The output topic.
    pub output: &'a str,
}

impl Names<'_> {
    /// The full name of input topic `short` (`in-text`).
    pub fn input(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }
}

/// `num(v)` of the README: a decimal string as a long; anything else (the flush records'
/// `F`) counts as 0, as on the Java side.
pub(crate) fn num(v: &str) -> i64 {
    v.trim().parse().unwrap_or(0)
}

/// A stream of string keys and nullable string values.
pub(crate) fn nullable_stream(
    b: &StreamsBuilder,
    topic: String,
) -> KStream<String, Option<String>> {
    b.stream(topic, Consumed::with(StringSerde, Nullable(StringSerde)))
}

/// A stream of string keys and values.
pub(crate) fn string_stream(b: &StreamsBuilder, topic: String) -> KStream<String, String> {
    b.stream(topic, Consumed::with(StringSerde, StringSerde))
}

/// The non-null values of a nullable stream, as Kafka Streams' `filter(v != null)`.
pub(crate) fn present(s: &KStream<String, Option<String>>) -> KStream<String, String> {
    s.flat_map_values(|v| v)
}

/// Table changes written as they are: a deletion as a tombstone.
pub(crate) fn long_changes() -> Produced<String, Option<i64>> {
    Produced::with(StringSerde, Nullable(I64Serde))
}

/// Table changes of string values, a deletion as a tombstone.
pub(crate) fn string_changes() -> Produced<String, Option<String>> {
    Produced::with(StringSerde, Nullable(StringSerde))
}

/// The kstreams topology called `name`.
pub fn build(name: &str, names: &Names<'_>) -> Result<Topology, TopologyError> {
    let b = StreamsBuilder::new();
    match name {
        "filter-upper" => stateless::filter_upper(&b, names),
        "branch-merge" => stateless::branch_merge(&b, names),
        "global-join" => stateless::global_join(&b, names),
        "sum-stream" => aggregations::sum_stream(&b, names),
        "sum-table" => aggregations::sum_table(&b, names),
        "metrics-agg" => aggregations::metrics_agg(&b, names),
        "word-count" => aggregations::word_count(&b, names),
        "map-count" => aggregations::map_count(&b, names),
        "flatmap-count" => aggregations::flatmap_count(&b, names),
        "selectkey-reduce" => aggregations::selectkey_reduce(&b, names),
        "stream-count" => aggregations::stream_count(&b, names),
        "stream-reduce" => aggregations::stream_reduce(&b, names),
        "stream-aggregate" => aggregations::stream_aggregate(&b, names),
        "table-count" => aggregations::table_count(&b, names),
        "table-reduce" => aggregations::table_reduce(&b, names),
        "table-aggregate" => aggregations::table_aggregate(&b, names),
        "cogroup" => aggregations::cogroup(&b, names),
        "ss-inner-join" | "ss-left-join" | "ss-outer-join" => joins::stream_stream(&b, names, name),
        "stream-table-join" => joins::stream_table(&b, names, false),
        "stream-table-left-join" => joins::stream_table(&b, names, true),
        "tt-inner-join" | "tt-left-join" | "tt-outer-join" => joins::table_table(&b, names, name),
        "fk-inner-join" => joins::foreign_key(&b, names, false),
        "fk-left-join" => joins::foreign_key(&b, names, true),
        "tumbling-count" | "hopping-count" | "suppress-final" | "emit-final" => {
            windows::time_windowed(&b, names, name)
        }
        "sliding-count" => windows::sliding(&b, names),
        "session-count" => windows::session(&b, names),
        other => {
            return Err(TopologyError::Invalid(format!(
                "no conformance topology {other:?}"
            )))
        }
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_builds() {
        let names = Names {
            prefix: "conf-test-",
            output: "out",
        };
        for s in crate::spec::ALL {
            build(s.name, &names).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        }
    }
}
