//! Aggregations of grouped streams and grouped tables, with and without a key change, and
//! the talk's sums and metrics aggregation.

use super::{long_changes, nullable_stream, num, present, string_changes, string_stream, Names};
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, KTable, Materialized, StreamsBuilder};

fn strings() -> Grouped<String, String> {
    Grouped::with(StringSerde, StringSerde)
}

fn longs(name: &str) -> Materialized<String, i64> {
    Materialized::named(name).with_value_serde(I64Serde)
}

fn table(b: &StreamsBuilder, topic: String, store: Option<&str>) -> KTable<String, String> {
    let m = store.map_or_else(Materialized::default, Materialized::named);
    b.table(topic, Consumed::with(StringSerde, StringSerde), m)
}

/// `r<v mod 3>`: the group of a number.
fn residue(v: &str) -> String {
    format!("r{}", num(v).rem_euclid(3))
}

/// 2: the talk's sum as a KStream: every value adds to one running sum.
pub(super) fn sum_stream(b: &StreamsBuilder, n: &Names<'_>) {
    present(&nullable_stream(b, n.input("in-nums")))
        .group_by(|_, _| "sum".to_string(), strings())
        .aggregate(|| 0i64, |_, v, a| a + num(&v), longs("sum-stream-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 3: the talk's sum as a KTable: a key's new value replaces its old one in the sum.
pub(super) fn sum_table(b: &StreamsBuilder, n: &Names<'_>) {
    table(b, n.input("in-nums"), Some("sum-table-source"))
        .group_by(|_, v| ("sum".to_string(), v.clone()), strings())
        .aggregate(
            || 0i64,
            |_, v, a| a + num(&v),
            |_, v, a| a - num(&v),
            longs("sum-table-store"),
        )
        .to_stream()
        .to(n.output, long_changes());
}

/// 4: the talk's metrics aggregation: counters per instance, summed per metric with add
/// and subtract.
pub(super) fn metrics_agg(b: &StreamsBuilder, n: &Names<'_>) {
    table(b, n.input("in-metrics"), None)
        .group_by(
            |k, v| {
                let metric = k.split_once('/').map_or(k.as_str(), |(_, m)| m);
                (metric.to_string(), v.clone())
            },
            strings(),
        )
        .aggregate(
            || 0i64,
            |_, v, a| a + num(&v),
            |_, v, a| a - num(&v),
            longs("metrics-agg-store"),
        )
        .to_stream()
        .to(n.output, long_changes());
}

/// 5: word count.
pub(super) fn word_count(b: &StreamsBuilder, n: &Names<'_>) {
    string_stream(b, n.input("in-text"))
        .flat_map_values(|v| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .group_by(|_, w| w.clone(), strings())
        .count(Materialized::named("word-count-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 6: `map` to a new key, then count by it.
pub(super) fn map_count(b: &StreamsBuilder, n: &Names<'_>) {
    present(&nullable_stream(b, n.input("in-nums")))
        .map(|_, v| (format!("m{}", num(&v).rem_euclid(5)), v))
        .group_by_key(strings())
        .count(Materialized::named("map-count-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 7: `flatMap` to one record per word, its value the original key (maybe null).
pub(super) fn flatmap_count(b: &StreamsBuilder, n: &Names<'_>) {
    string_stream(b, n.input("in-text"))
        .flat_map(|k, v| {
            v.split(' ')
                .map(|w| (w.to_string(), k.clone()))
                .collect::<Vec<_>>()
        })
        .group_by_key(Grouped::with(StringSerde, Nullable(StringSerde)))
        .count(Materialized::named("flatmap-count-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 8: `selectKey` by the first word, then keep the longest text per word (the greater on
/// equal lengths, so the result does not depend on the order the repartition topic
/// interleaves the input partitions in).
pub(super) fn selectkey_reduce(b: &StreamsBuilder, n: &Names<'_>) {
    string_stream(b, n.input("in-text"))
        .select_key(|_, v| v.split(' ').next().unwrap_or_default().to_string())
        .group_by_key(strings())
        .reduce(
            |a, b| if (b.len(), &b) >= (a.len(), &a) { b } else { a },
            Materialized::named("selectkey-reduce-store"),
        )
        .to_stream()
        .to(n.output, string_changes());
}

/// 10: count per key of the stream itself (no repartition).
pub(super) fn stream_count(b: &StreamsBuilder, n: &Names<'_>) {
    nullable_stream(b, n.input("in-nums"))
        .group_by_key(Grouped::with(StringSerde, Nullable(StringSerde)))
        .count(Materialized::named("stream-count-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 11: the maximum per key.
pub(super) fn stream_reduce(b: &StreamsBuilder, n: &Names<'_>) {
    present(&nullable_stream(b, n.input("in-nums")))
        .map_values(|v| num(&v))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .reduce(i64::max, Materialized::named("stream-reduce-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 12: the last five values per key, comma separated.
pub(super) fn stream_aggregate(b: &StreamsBuilder, n: &Names<'_>) {
    present(&nullable_stream(b, n.input("in-nums")))
        .group_by_key(strings())
        .aggregate(
            String::new,
            |_, v, a| {
                let mut items: Vec<&str> = a.split(',').filter(|s| !s.is_empty()).collect();
                items.push(&v);
                let keep = items.len().saturating_sub(5);
                items[keep..].join(",")
            },
            Materialized::named("stream-aggregate-store").with_value_serde(StringSerde),
        )
        .to_stream()
        .to(n.output, string_changes());
}

/// 13: rows counted per residue group, a row's move between groups subtracted.
pub(super) fn table_count(b: &StreamsBuilder, n: &Names<'_>) {
    table(b, n.input("in-nums"), None)
        .group_by(|_, v| (residue(v), v.clone()), strings())
        .count(Materialized::named("table-count-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 14: values summed per residue group with reduce's adder and subtractor.
pub(super) fn table_reduce(b: &StreamsBuilder, n: &Names<'_>) {
    table(b, n.input("in-nums"), None)
        .group_by(
            |_, v| (residue(v), num(v)),
            Grouped::with(StringSerde, I64Serde),
        )
        .reduce(|a, v| a + v, |a, v| a - v, longs("table-reduce-store"))
        .to_stream()
        .to(n.output, long_changes());
}

/// 15: squares summed per residue group.
pub(super) fn table_aggregate(b: &StreamsBuilder, n: &Names<'_>) {
    table(b, n.input("in-nums"), None)
        .group_by(|_, v| (residue(v), v.clone()), strings())
        .aggregate(
            || 0i64,
            |_, v, a| a + num(&v) * num(&v),
            |_, v, a| a - num(&v) * num(&v),
            longs("table-aggregate-store"),
        )
        .to_stream()
        .to(n.output, long_changes());
}

/// 33: two streams folded into one table: a left value adds its number, a right one 1000.
pub(super) fn cogroup(b: &StreamsBuilder, n: &Names<'_>) {
    let left = string_stream(b, n.input("in-left")).group_by_key(strings());
    let right = string_stream(b, n.input("in-right")).group_by_key(strings());
    left.cogroup(|_, v: String, a: i64| a + num(v.get(1..).unwrap_or_default()))
        .cogroup(&right, |_, _, a| a + 1000)
        .aggregate(|| 0i64, longs("cogroup-store"))
        .to_stream()
        .to(n.output, long_changes());
}
