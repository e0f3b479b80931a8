//! Oracle tests of windowed aggregation on seeded random event-time input with
//! out-of-order and late records, over four partitions: the windowed counts and sums equal
//! a recomputation from scratch that applies the same grace rule (a record is dropped for
//! a window once its partition's stream time has reached the window's end plus grace).
//! Final results (emit-final and `suppress(until_window_closes)`) are emitted exactly once
//! for every closed window, with the recomputed value, and never for an open one.

mod common;

use common::{Events, StreamTimes};

use kstreams::dsl::{EmitStrategy, Suppressed, TimeWindows, Windowed, WindowedSerde};
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::collections::BTreeMap;
use std::time::Duration;

const PARTITIONS: u32 = 4;

/// Returns how many (record, window) pairs were late.
fn check(windows: TimeWindows, seed: u64) -> u64 {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by(windows);
    grouped.count(Materialized::named("counts"));
    let sums = grouped.reduce(|a, b| a + b, Materialized::named("sums"));
    sums.suppress(Suppressed::until_window_closes())
        .to_stream()
        .flat_map_values(|v| v)
        .to(
            "final-sums",
            Produced::with(WindowedSerde::new(StringSerde, windows.size_ms()), I64Serde),
        );
    grouped
        .clone()
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count(Materialized::named("final-counts"))
        .to_stream()
        .flat_map_values(|v| v)
        .to(
            "final-counts",
            Produced::with(WindowedSerde::new(StringSerde, windows.size_ms()), I64Serde),
        );
    let driver = TestDriver::builder(builder.build().unwrap())
        .default_partitions(PARTITIONS)
        .build()
        .unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde);

    let mut events = Events::new(seed, 4, 5, 40);
    let mut stream_time = StreamTimes::<{ PARTITIONS as usize }>::new();
    let mut counts: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut sums: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut late = 0u64;
    for _ in 0..events.count(300) {
        let (key, value, ts) = events.next();
        input.pipe_input_at(key.clone(), value, ts).unwrap();
        let now = stream_time.advance(&key, ts);
        for start in windows.window_starts(ts) {
            if now >= start + windows.size_ms() + windows.grace_ms() {
                late += 1;
                continue;
            }
            *counts.entry((key.clone(), start)).or_default() += 1;
            *sums.entry((key.clone(), start)).or_default() += value;
        }
    }
    let read = |store: &str| -> BTreeMap<(String, i64), i64> {
        driver
            .key_value_store::<Windowed<String>, i64>(store)
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .map(|(w, v)| {
                assert_eq!(w.window.end - w.window.start, windows.size_ms());
                ((w.key, w.window.start), v)
            })
            .collect()
    };
    assert_eq!(read("counts"), counts, "seed {seed}: counts");
    assert_eq!(read("sums"), sums, "seed {seed}: sums");
    assert_eq!(
        read("final-counts"),
        counts,
        "seed {seed}: emit-final store"
    );
    // Each late (record, window) pair was dropped and counted, in all three aggregations.
    assert_eq!(driver.metrics().dropped, 3 * late, "seed {seed}: dropped");

    // Exactly the closed windows were emitted, once each, with their whole content.
    let closed = |m: &BTreeMap<(String, i64), i64>| -> BTreeMap<(String, i64), i64> {
        m.iter()
            .filter(|((k, start), _)| {
                start + windows.size_ms() + windows.grace_ms() <= stream_time.of(k)
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    for (topic, oracle) in [("final-counts", &counts), ("final-sums", &sums)] {
        let out = driver.output_topic(
            topic,
            WindowedSerde::new(StringSerde, windows.size_ms()),
            I64Serde,
        );
        let mut emitted = BTreeMap::new();
        for (k, v) in out.read_key_values() {
            let w = k.expect("windowed key");
            let before = emitted.insert((w.key.clone(), w.window.start), v);
            assert!(
                before.is_none(),
                "seed {seed}: {topic}: window {w:?} emitted twice"
            );
        }
        assert_eq!(emitted, closed(oracle), "seed {seed}: {topic}");
    }
    late
}

#[test]
fn tumbling_windows_with_grace_equal_recomputation() {
    let w = TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(5));
    let late: u64 = (0..60).map(|seed| check(w, seed)).sum();
    assert!(late > 0, "the inputs exercised the grace period");
}

#[test]
fn hopping_windows_with_grace_equal_recomputation() {
    let w = TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(3))
        .advance_by(Duration::from_millis(5));
    let late: u64 = (0..60).map(|seed| check(w, seed + 1000)).sum();
    assert!(late > 0, "the inputs exercised the grace period");
}

#[test]
fn tumbling_windows_without_grace_drop_anything_behind_stream_time() {
    let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
    let late: u64 = (0..30).map(|seed| check(w, seed + 5000)).sum();
    assert!(late > 0, "the inputs exercised the grace period");
}

#[test]
fn windows_older_than_the_retention_are_deleted() {
    let hour = 3_600_000i64;
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            hour as u64,
        )))
        .count(Materialized::named("hourly"));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde);
    input.pipe_input_at("k".into(), 1, 0).unwrap();
    input.pipe_input_at("k".into(), 1, 12 * hour).unwrap();
    let starts = || -> Vec<i64> {
        driver
            .key_value_store::<Windowed<String>, i64>("hourly")
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .map(|(w, _)| w.window.start)
            .collect()
    };
    assert_eq!(
        starts(),
        vec![0, 12 * hour],
        "within the one-day retention both remain"
    );
    input.pipe_input_at("k".into(), 1, 30 * hour).unwrap();
    assert_eq!(
        starts(),
        vec![12 * hour, 30 * hour],
        "the window of hour 0 expired"
    );
}

#[test]
fn a_shorter_retention_expires_windows_sooner() {
    let minute = 60_000i64;
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .count(Materialized::named("per-minute").with_retention(Duration::from_secs(300)));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde);
    let starts = || -> Vec<i64> {
        driver
            .key_value_store::<Windowed<String>, i64>("per-minute")
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .map(|(w, _)| w.window.start)
            .collect()
    };
    input.pipe_input_at("k".into(), 1, 0).unwrap();
    input.pipe_input_at("k".into(), 1, 4 * minute).unwrap();
    assert_eq!(
        starts(),
        vec![0, 4 * minute],
        "within five minutes both remain"
    );
    input.pipe_input_at("k".into(), 1, 7 * minute).unwrap();
    assert_eq!(starts(), vec![4 * minute, 7 * minute], "minute 0 expired");
}
