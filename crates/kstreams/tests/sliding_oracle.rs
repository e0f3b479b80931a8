//! Oracle tests of sliding windows on seeded random event-time input over four partitions.
//!
//! With a grace period longer than any record is out of order, nothing is late and the
//! oracle is the definition itself: for every record at `t` the window `[t - d, t]`
//! (`[0, d]` for `t < d`), and the window `[t + 1, t + 1 + d]` if it holds any record; each
//! window's count and sum over the records in it. Emit-final emits every window that
//! stream time has closed, once, with that content.
//!
//! With a short grace, records whose every window has closed are dropped and counted;
//! the stores then hold only windows made of accepted records, and emit-final still
//! emits each closed window once, with the value its store holds.

mod common;

use common::{Events, StreamTimes};
use kstreams::dsl::{EmitStrategy, SlidingWindows, Windowed, WindowedSerde};
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const PARTITIONS: u32 = 4;

/// (key, start) -> value
type Windows = BTreeMap<(String, i64), i64>;

struct Run {
    driver: TestDriver,
    /// Accepted (ts, value) per key.
    accepted: BTreeMap<String, Vec<(i64, i64)>>,
    stream_time: StreamTimes<{ PARTITIONS as usize }>,
    late: u64,
}

fn run(w: SlidingWindows, seed: u64, max_delay: u64) -> Run {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by_sliding(w);
    grouped.count(Materialized::named("counts"));
    grouped.reduce(|a, b| a + b, Materialized::named("sums"));
    grouped
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count(Materialized::named("final-counts"))
        .to_stream()
        .flat_map_values(|v| v)
        .to(
            "final",
            Produced::with(WindowedSerde::new(StringSerde, w.difference_ms()), I64Serde),
        );
    let driver = TestDriver::builder(builder.build().unwrap())
        .default_partitions(PARTITIONS)
        .build()
        .unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde);
    let mut events = Events::new(seed, 6, 4, max_delay);
    let mut stream_time = StreamTimes::new();
    let mut accepted: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut late = 0;
    for _ in 0..events.count(200) {
        let (key, value, ts) = events.next();
        input.pipe_input_at(key.clone(), value, ts).unwrap();
        if ts + w.difference_ms() < stream_time.advance(&key, ts) - w.grace_ms() {
            late += 1;
        } else {
            accepted.entry(key).or_default().push((ts, value));
        }
    }
    Run {
        driver,
        accepted,
        stream_time,
        late,
    }
}

fn read(driver: &TestDriver, store: &str, d: i64) -> Windows {
    driver
        .key_value_store::<Windowed<String>, i64>(store)
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .map(|(w, v)| {
            assert_eq!(w.window.end - w.window.start, d);
            ((w.key, w.window.start), v)
        })
        .collect()
}

/// Emitted finals, each window at most once.
fn finals(driver: &TestDriver, d: i64, seed: u64) -> Windows {
    let out = driver.output_topic("final", WindowedSerde::new(StringSerde, d), I64Serde);
    let mut emitted = Windows::new();
    for (k, v) in out.read_key_values() {
        let w = k.expect("windowed key");
        let before = emitted.insert((w.key.clone(), w.window.start), v);
        assert!(before.is_none(), "seed {seed}: window {w:?} emitted twice");
    }
    emitted
}

/// The windows the definition gives for these records, with count and sum.
fn definition(accepted: &BTreeMap<String, Vec<(i64, i64)>>, d: i64) -> (Windows, Windows) {
    let (mut counts, mut sums) = (Windows::new(), Windows::new());
    for (k, records) in accepted {
        let mut starts = BTreeSet::new();
        for (t, _) in records {
            starts.insert((t - d).max(0));
            if records.iter().any(|(u, _)| *u > *t && *u <= t + 1 + d) {
                starts.insert(t + 1);
            }
        }
        for s in starts {
            let inside: Vec<i64> = records
                .iter()
                .filter(|(u, _)| (s..=s + d).contains(u))
                .map(|(_, v)| *v)
                .collect();
            counts.insert((k.clone(), s), inside.len() as i64);
            sums.insert((k.clone(), s), inside.iter().sum());
        }
    }
    (counts, sums)
}

fn closed(m: &Windows, r: &Run, w: SlidingWindows) -> Windows {
    m.iter()
        .filter(|((k, s), _)| s + w.difference_ms() + w.grace_ms() < r.stream_time.of(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[test]
fn sliding_windows_equal_their_definition() {
    let w = SlidingWindows::of_time_difference_and_grace(
        Duration::from_millis(10),
        Duration::from_millis(50),
    );
    for seed in 0..60 {
        let r = run(w, seed, 40);
        assert_eq!(r.late, 0);
        let (counts, sums) = definition(&r.accepted, w.difference_ms());
        assert_eq!(read(&r.driver, "counts", 10), counts, "seed {seed}: counts");
        assert_eq!(read(&r.driver, "sums", 10), sums, "seed {seed}: sums");
        let emitted = finals(&r.driver, 10, seed);
        assert_eq!(emitted, closed(&counts, &r, w), "seed {seed}: finals");
        assert!(!emitted.is_empty());
    }
}

#[test]
fn late_records_are_dropped_and_finals_stay_unique() {
    let w = SlidingWindows::of_time_difference_and_grace(
        Duration::from_millis(5),
        Duration::from_millis(3),
    );
    let mut late = 0;
    for seed in 0..60 {
        let r = run(w, seed + 500, 40);
        late += r.late;
        // Three aggregations, each dropping every late record once.
        assert_eq!(
            r.driver.metrics().dropped,
            3 * r.late,
            "seed {seed}: dropped"
        );
        let counts = read(&r.driver, "counts", 5);
        let (upper, _) = definition(&r.accepted, 5);
        for (k, c) in &counts {
            // Every stored window is made of accepted records only.
            let most = upper.get(k).copied().unwrap_or(0);
            assert!(
                *c >= 1 && *c <= most,
                "seed {seed}: {k:?} = {c}, at most {most}"
            );
        }
        assert_eq!(read(&r.driver, "final-counts", 5), counts, "seed {seed}");
        assert_eq!(
            finals(&r.driver, 5, seed),
            closed(&counts, &r, w),
            "seed {seed}: finals"
        );
    }
    assert!(late > 0, "the inputs exercised the grace period");
}

#[test]
fn kafka_sliding_window_example() {
    // Records at 8, 10 and 20 with a 10 ms difference (Kafka's KIP-450 example shape).
    let w = SlidingWindows::of_time_difference_with_no_grace(Duration::from_millis(10));
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by_sliding(w)
        .count(Materialized::named("counts"));
    let driver = TestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.input_topic("events", StringSerde, I64Serde);
    for ts in [8, 10, 20] {
        input.pipe_input_at("a".into(), 1, ts).unwrap();
    }
    let got: Vec<(i64, i64, i64)> = driver
        .key_value_store::<Windowed<String>, i64>("counts")
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, k.window.end, v))
        .collect();
    // [0,10]: 8, 10 (early records share [0, d]); [9,19]: 10; [10,20]: 10, 20;
    // [11,21]: 20.
    assert_eq!(got, vec![(0, 10, 2), (9, 19, 1), (10, 20, 2), (11, 21, 1)]);
}
