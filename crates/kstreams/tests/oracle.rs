//! Oracle tests: on seeded random input over four partitions, incremental aggregates equal
//! the same result recomputed from scratch.

mod common;

use common::Rng;

use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::collections::BTreeMap;

fn group_of(key: &str) -> String {
    format!("g{}", key.len() % 3)
}

#[test]
fn ktable_group_by_aggregate_equals_recomputation() {
    for seed in 0..200u64 {
        let builder = StreamsBuilder::new();
        let table = builder.table(
            "rows",
            Consumed::with(StringSerde, I64Serde),
            Materialized::named("rows"),
        );
        let grouped = table.group_by(
            |k, v| (group_of(k), *v),
            Grouped::with(StringSerde, I64Serde),
        );
        grouped.reduce(|a, b| a + b, |a, b| a - b, Materialized::named("sums"));
        grouped.count(Materialized::named("counts"));
        grouped
            .aggregate(
                || 0i64,
                |_, v, agg| agg + v * v,
                |_, v, agg| agg - v * v,
                Materialized::named("squares").with_value_serde(I64Serde),
            )
            .to_stream()
            .to(
                "squares-out",
                Produced::with(StringSerde, Nullable(I64Serde)),
            );
        let driver = TestDriver::builder(builder.build().unwrap())
            .default_partitions(4)
            .build()
            .unwrap();
        let input = driver.input_topic("rows", StringSerde, Nullable(I64Serde));

        let mut rng = Rng(seed);
        let mut truth: BTreeMap<String, i64> = BTreeMap::new();
        let ops = 20 + rng.below(200);
        for i in 0..ops {
            let key = "k".repeat(1 + rng.below(5) as usize) + &rng.below(8).to_string();
            if rng.below(5) == 0 {
                input.pipe_input_at(key.clone(), None, i as i64).unwrap();
                truth.remove(&key);
            } else {
                let v = rng.below(100) as i64 - 20;
                input.pipe_input_at(key.clone(), Some(v), i as i64).unwrap();
                truth.insert(key, v);
            }
        }

        let mut sums: BTreeMap<String, i64> = BTreeMap::new();
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        let mut squares: BTreeMap<String, i64> = BTreeMap::new();
        for (k, v) in &truth {
            *sums.entry(group_of(k)).or_default() += v;
            *counts.entry(group_of(k)).or_default() += 1;
            *squares.entry(group_of(k)).or_default() += v * v;
        }
        let read = |store: &str| -> BTreeMap<String, i64> {
            driver
                .key_value_store::<String, i64>(store)
                .unwrap()
                .all()
                .unwrap()
                .into_iter()
                .collect()
        };
        // A group whose rows all went away keeps its zero, as in Kafka Streams.
        let nonzero = |m: BTreeMap<String, i64>| -> BTreeMap<String, i64> {
            m.into_iter()
                .filter(|(k, v)| *v != 0 || counts.contains_key(k))
                .collect()
        };
        assert_eq!(nonzero(read("sums")), sums, "seed {seed}: sums");
        assert_eq!(nonzero(read("counts")), counts, "seed {seed}: counts");
        assert_eq!(nonzero(read("squares")), squares, "seed {seed}: squares");
        let table_now: BTreeMap<String, i64> = driver
            .key_value_store::<String, i64>("rows")
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(table_now, truth, "seed {seed}: table");
        // The changelog stream of the aggregate ends at the recomputed value for each group.
        let out = driver.output_topic("squares-out", StringSerde, Nullable(I64Serde));
        let last: BTreeMap<String, i64> = out
            .read_key_values_to_map()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        assert_eq!(nonzero(last), squares, "seed {seed}: squares changelog");
    }
}

#[test]
fn kstream_count_by_key_equals_recomputation() {
    for seed in 0..100u64 {
        let builder = StreamsBuilder::new();
        builder
            .stream("events", Consumed::with(StringSerde, I64Serde))
            .map(|_, v: i64| (format!("user-{}", v % 17), v))
            .group_by_key(Grouped::with(StringSerde, I64Serde))
            .count(Materialized::named("per-user"));
        let driver = TestDriver::builder(builder.build().unwrap())
            .default_partitions(4)
            .build()
            .unwrap();
        let input = driver.input_topic("events", StringSerde, I64Serde);
        let mut rng = Rng(seed ^ 0xabcdef);
        let mut truth: BTreeMap<String, i64> = BTreeMap::new();
        for i in 0..(1 + rng.below(300)) {
            let v = rng.below(1000) as i64;
            if rng.below(2) == 0 {
                input.pipe_keyless(v).unwrap();
            } else {
                input
                    .pipe_input_at(format!("src-{i}"), v, i as i64)
                    .unwrap();
            }
            *truth.entry(format!("user-{}", v % 17)).or_default() += 1;
        }
        let got: BTreeMap<String, i64> = driver
            .key_value_store::<String, i64>("per-user")
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(got, truth, "seed {seed}");
    }
}
