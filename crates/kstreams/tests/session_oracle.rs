//! Oracle test of session windows on seeded random event-time input with out-of-order and
//! late records, over four partitions. The oracle keeps the records it accepted and, for
//! every new record, recomputes the key's sessions from scratch (records no more than the
//! gap apart form one session); it drops the record when the session it would join ends
//! before stream time minus grace and inactivity gap, as Kafka Streams 4 does, or when it
//! would extend a session that is already closed (final). The store must hold exactly the
//! sessions, counts and sums of the accepted records, and emit-final must emit every
//! closed session once with its whole content.

mod common;

use common::{Events, StreamTimes};
use kstreams::dsl::{EmitStrategy, SessionWindowedSerde, SessionWindows, Windowed};
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::collections::BTreeMap;
use std::time::Duration;

const PARTITIONS: u32 = 4;

/// (key, start, end) -> value
type Sessions = BTreeMap<(String, i64, i64), i64>;

/// Sessions of sorted `(ts, value)` records: (start, end, count, sum).
fn sessions(records: &[(i64, i64)], gap: i64) -> Vec<(i64, i64, i64, i64)> {
    let mut sorted = records.to_vec();
    sorted.sort();
    let mut out: Vec<(i64, i64, i64, i64)> = Vec::new();
    for (ts, v) in sorted {
        match out.last_mut() {
            Some(s) if ts - s.1 <= gap => {
                s.1 = ts;
                s.2 += 1;
                s.3 += v;
            }
            _ => out.push((ts, ts, 1, v)),
        }
    }
    out
}

fn check(windows: SessionWindows, seed: u64) -> u64 {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by_session(windows);
    grouped.count(Materialized::named("counts"));
    grouped.reduce(|a, b| a + b, Materialized::named("sums"));
    grouped
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count(Materialized::named("final-counts"))
        .to_stream()
        .flat_map_values(|v| v)
        .to(
            "final",
            Produced::with(SessionWindowedSerde::new(StringSerde), I64Serde),
        );
    let driver = TestDriver::builder(builder.build().unwrap())
        .default_partitions(PARTITIONS)
        .build()
        .unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde);

    let mut events = Events::new(seed, 8, 4, 40);
    let mut stream_time = StreamTimes::<{ PARTITIONS as usize }>::new();
    let mut accepted: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut late = 0u64;
    for _ in 0..events.count(250) {
        let (key, value, ts) = events.next();
        input.pipe_input_at(key.clone(), value, ts).unwrap();
        let now = stream_time.advance(&key, ts);
        let records = accepted.entry(key).or_default();
        let reached: Vec<_> = sessions(records, windows.gap_ms())
            .into_iter()
            .filter(|s| s.1 >= ts - windows.gap_ms() && s.0 <= ts + windows.gap_ms())
            .collect();
        let merged_end = reached.iter().map(|s| s.1).fold(ts, i64::max);
        let close = now - windows.grace_ms() - windows.gap_ms();
        // Late: the merged session ends before the close time (Kafka's rule), or the
        // record would extend a session that is already closed.
        if merged_end < close || reached.iter().any(|s| s.1 < close) {
            late += 1;
        } else {
            records.push((ts, value));
        }
    }
    let mut counts = Sessions::new();
    let mut sums = Sessions::new();
    for (k, records) in &accepted {
        for (start, end, count, sum) in sessions(records, windows.gap_ms()) {
            counts.insert((k.clone(), start, end), count);
            sums.insert((k.clone(), start, end), sum);
        }
    }
    let read = |store: &str| -> Sessions {
        driver
            .key_value_store::<Windowed<String>, i64>(store)
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .map(|(w, v)| ((w.key, w.window.start, w.window.end), v))
            .collect()
    };
    assert_eq!(read("counts"), counts, "seed {seed}: counts");
    assert_eq!(read("sums"), sums, "seed {seed}: sums");
    assert_eq!(
        read("final-counts"),
        counts,
        "seed {seed}: emit-final store"
    );
    assert_eq!(driver.metrics().dropped, 3 * late, "seed {seed}: dropped");

    let closed: Sessions = counts
        .iter()
        .filter(|((k, _, end), _)| end + windows.gap_ms() + windows.grace_ms() < stream_time.of(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let out = driver.output_topic("final", SessionWindowedSerde::new(StringSerde), I64Serde);
    let mut emitted = Sessions::new();
    for (k, v) in out.read_key_values() {
        let w = k.expect("windowed key");
        let before = emitted.insert((w.key.clone(), w.window.start, w.window.end), v);
        assert!(before.is_none(), "seed {seed}: session {w:?} emitted twice");
    }
    assert_eq!(emitted, closed, "seed {seed}: final sessions");
    assert!(!counts.is_empty());
    late
}

#[test]
fn sessions_with_grace_equal_recomputation() {
    let w = SessionWindows::of_inactivity_gap_and_grace(
        Duration::from_millis(5),
        Duration::from_millis(10),
    );
    let late: u64 = (0..60).map(|seed| check(w, seed)).sum();
    assert!(late > 0, "the inputs exercised the grace period");
}

#[test]
fn sessions_without_grace_equal_recomputation() {
    let w = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(3));
    let late: u64 = (0..60).map(|seed| check(w, seed + 7000)).sum();
    assert!(late > 0, "the inputs exercised the grace period");
}

#[test]
fn a_record_bridging_two_sessions_merges_them_and_deletes_the_old_ones() {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(20),
        ))
        .count(Materialized::named("visits"))
        .to_stream()
        .to(
            "out",
            Produced::with(
                SessionWindowedSerde::new(StringSerde),
                kstreams::serde::Nullable(I64Serde),
            ),
        );
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde);
    let out = driver.output_topic(
        "out",
        SessionWindowedSerde::new(StringSerde),
        kstreams::serde::Nullable(I64Serde),
    );
    input.pipe_input_at("u".into(), 1, 0).unwrap();
    input.pipe_input_at("u".into(), 1, 20).unwrap();
    input.pipe_input_at("u".into(), 1, 10).unwrap();
    let got: Vec<(i64, i64, Option<i64>)> = out
        .read_key_values()
        .into_iter()
        .map(|(k, v)| {
            let w = k.unwrap();
            (w.window.start, w.window.end, v)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 0, Some(1)),
            (20, 20, Some(1)),
            (0, 0, None),
            (20, 20, None),
            (0, 20, Some(3)),
        ]
    );
}
