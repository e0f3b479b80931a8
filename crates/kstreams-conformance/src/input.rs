//! The seeded input every topology reads, written once to the broker (`conformance/README.md`,
//! "Input topics").

use kstreams::runtime::partitioner::partition_for_key;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How far past the base timestamp the flush records sit: past every window and grace of
/// every topology.
pub const FLUSH_AFTER: i64 = 600_000;

/// The base timestamp of a run: the start of the hour before the last, so that the
/// input's times (up to ten minutes later) lie in the past, yet within the one-day
/// retention Kafka Streams gives windowed changelogs (older records would be deleted by
/// the broker at once, and their changelogs could not be compared).
pub fn base_time(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(3_600_000) - 3_600_000
}

/// One input record, with the partition it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// Partition.
    pub partition: i32,
    /// Key; `None` is a null key.
    pub key: Option<String>,
    /// Value; `None` is a tombstone.
    pub value: Option<String>,
    /// Timestamp, ms.
    pub timestamp: i64,
}

/// An input topic: its short name (`in-text`), partition count and records.
#[derive(Debug, Clone)]
pub struct InputTopic {
    /// Name without the run prefix.
    pub name: &'static str,
    /// Partitions.
    pub partitions: i32,
    /// Records, in the order they are written.
    pub records: Vec<InputRecord>,
}

const WORDS: [&str; 10] = [
    "apple", "banana", "kafka", "stream", "table", "join", "window", "rust", "java", "data",
];

/// `ts` moved down to the residue `class` modulo 4, so that the join inputs never tie.
fn in_class(ts: i64, class: i64) -> i64 {
    ts - ts.rem_euclid(4) + class
}

struct Gen {
    rng: StdRng,
    round_robin: i32,
}

impl Gen {
    fn chance(&mut self, percent: u32) -> bool {
        self.rng.gen_range(0..100) < percent
    }

    fn record(
        &mut self,
        partitions: i32,
        key: Option<String>,
        value: Option<String>,
        timestamp: i64,
    ) -> InputRecord {
        let partition = match &key {
            Some(k) => partition_for_key(k.as_bytes(), partitions as u32) as i32,
            None => {
                self.round_robin = (self.round_robin + 1) % partitions;
                self.round_robin
            }
        };
        InputRecord {
            partition,
            key,
            value,
            timestamp,
        }
    }
}

/// A key that murmur2 puts in `partition` of `partitions`: the flush record of that
/// partition.
pub fn flush_key(partition: i32, partitions: i32) -> String {
    (0..)
        .map(|j| format!("zz-flush-{j}"))
        .find(|k| partition_for_key(k.as_bytes(), partitions as u32) as i32 == partition)
        .unwrap_or_default()
}

/// Appends one flush record per partition at `at` (in the topic's class modulo 4, so the
/// join inputs' flush records do not tie either).
fn with_flush(mut topic: InputTopic, value: &str, at: i64) -> InputTopic {
    for p in 0..topic.partitions {
        topic.records.push(InputRecord {
            partition: p,
            key: Some(flush_key(p, topic.partitions)),
            value: Some(value.to_string()),
            timestamp: at,
        });
    }
    topic
}

/// Every input topic of the suite, from `seed`, with times from `t0` (see [`base_time`]).
pub fn generate(seed: u64, t0: i64) -> Vec<InputTopic> {
    let flush = t0 + FLUSH_AFTER;
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        round_robin: 0,
    };
    let mut topics = Vec::new();

    let mut text = Vec::new();
    for i in 0..300i64 {
        let key = (!g.chance(10)).then(|| format!("k{}", g.rng.gen_range(0..10)));
        let words: Vec<&str> = (0..g.rng.gen_range(1..=6))
            .map(|_| WORDS[g.rng.gen_range(0..WORDS.len())])
            .collect();
        let ts = t0 + 100 * i + g.rng.gen_range(-2_000..=2_000);
        text.push(g.record(3, key, Some(words.join(" ")), ts));
    }
    topics.push(with_flush(
        InputTopic {
            name: "in-text",
            partitions: 3,
            records: text,
        },
        "F",
        flush,
    ));

    let mut nums = Vec::new();
    for i in 0..600i64 {
        let key = (!g.chance(5)).then(|| format!("k{}", g.rng.gen_range(0..20)));
        let value = (!g.chance(5)).then(|| g.rng.gen_range(-50..=100).to_string());
        let ts = if g.chance(3) {
            t0 + 50 * i - 30_000
        } else {
            t0 + 50 * i + g.rng.gen_range(-3_000..=1_000)
        };
        nums.push(g.record(3, key, value, ts));
    }
    topics.push(with_flush(
        InputTopic {
            name: "in-nums",
            partitions: 3,
            records: nums,
        },
        "0",
        flush,
    ));

    for (name, prefix, class) in [("in-left", "L", 0), ("in-right", "R", 1)] {
        let mut records = Vec::new();
        for i in 0..300i64 {
            let key = Some(format!("k{}", g.rng.gen_range(0..10)));
            let late = g.chance(3);
            let ts = t0 + 100 * i + g.rng.gen_range(-1_500..=1_500) - if late { 30_000 } else { 0 };
            records.push(g.record(3, key, Some(format!("{prefix}{i}")), in_class(ts, class)));
        }
        topics.push(with_flush(
            InputTopic {
                name,
                partitions: 3,
                records,
            },
            "F",
            in_class(flush, class),
        ));
    }

    for (name, prefix, class) in [("in-table", "T", 2), ("in-table2", "U", 3)] {
        let mut records = Vec::new();
        for i in 0..100i64 {
            let key = Some(format!("k{}", g.rng.gen_range(0..10)));
            let value = (!g.chance(10)).then(|| format!("{prefix}{i}"));
            let ts = t0 + 300 * i + g.rng.gen_range(-1_000..=1_000);
            records.push(g.record(3, key, value, in_class(ts, class)));
        }
        topics.push(with_flush(
            InputTopic {
                name,
                partitions: 3,
                records,
            },
            "F",
            in_class(flush, class),
        ));
    }

    let mut orders = Vec::new();
    for i in 0..200i64 {
        let key = Some(format!("o{}", g.rng.gen_range(0..30)));
        let value = (!g.chance(10))
            .then(|| format!("c{}|{}", g.rng.gen_range(0..10), g.rng.gen_range(1..500)));
        let ts = t0 + 150 * i + g.rng.gen_range(-500..=500);
        orders.push(g.record(3, key, value, ts));
    }
    topics.push(with_flush(
        InputTopic {
            name: "in-fk-left",
            partitions: 3,
            records: orders,
        },
        "F",
        flush,
    ));

    let mut customers = Vec::new();
    for i in 0..60i64 {
        let key = Some(format!("c{}", g.rng.gen_range(0..10)));
        let value = (!g.chance(10)).then(|| format!("name-{i}"));
        let ts = t0 + 500 * i + g.rng.gen_range(-500..=500);
        customers.push(g.record(2, key, value, ts));
    }
    topics.push(with_flush(
        InputTopic {
            name: "in-fk-right",
            partitions: 2,
            records: customers,
        },
        "F",
        flush,
    ));

    let mut global = Vec::new();
    for i in 0..20i64 {
        global.push(g.record(
            2,
            Some(format!("g{}", i % 10)),
            Some(format!("G{i}")),
            t0 - 60_000 + i,
        ));
    }
    topics.push(InputTopic {
        name: "in-global",
        partitions: 2,
        records: global,
    });

    // The talk's metrics: a monotonic counter per instance and metric.
    let mut metrics = Vec::new();
    let mut counters = std::collections::BTreeMap::new();
    for i in 0..60i64 {
        let instance = g.rng.gen_range(1..=3);
        let metric = if g.chance(70) { "records" } else { "errors" };
        let key = format!("app-{instance}/{metric}");
        let counter = counters.entry(key.clone()).or_insert(0i64);
        *counter += g.rng.gen_range(1..100);
        let value = counter.to_string();
        metrics.push(g.record(1, Some(key), Some(value), t0 + 1_000 * i));
    }
    topics.push(InputTopic {
        name: "in-metrics",
        partitions: 1,
        records: metrics,
    });
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn the_base_time_is_an_hour_boundary_in_the_past_within_a_day() {
        let now = 1_800_000_123_456;
        let t0 = base_time(now);
        assert_eq!(t0 % 3_600_000, 0);
        assert!(t0 + FLUSH_AFTER < now && now - t0 < 2 * 3_600_000);
    }

    #[test]
    fn the_same_seed_gives_the_same_input_and_another_seed_another() {
        let a = generate(7, T0);
        let b = generate(7, T0);
        let c = generate(8, T0);
        let records = |t: &[InputTopic]| t.iter().map(|t| t.records.clone()).collect::<Vec<_>>();
        assert_eq!(records(&a), records(&b));
        assert_ne!(records(&a), records(&c));
    }

    #[test]
    fn join_inputs_never_tie_and_keyed_records_sit_in_their_murmur2_partition() {
        let topics = generate(1, T0);
        let mut seen = std::collections::HashMap::new();
        for t in topics
            .iter()
            .filter(|t| ["in-left", "in-right", "in-table", "in-table2"].contains(&t.name))
        {
            for r in &t.records {
                if let Some(other) = seen.insert(r.timestamp, t.name) {
                    assert_eq!(
                        other, t.name,
                        "{} ties {} at {}",
                        t.name, other, r.timestamp
                    );
                }
            }
        }
        for t in &topics {
            for r in &t.records {
                if let Some(k) = &r.key {
                    assert_eq!(
                        partition_for_key(k.as_bytes(), t.partitions as u32) as i32,
                        r.partition,
                        "{} key {k}",
                        t.name
                    );
                }
            }
            let flushes = t
                .records
                .iter()
                .filter(|r| r.timestamp >= T0 + FLUSH_AFTER)
                .count();
            let expected = if ["in-global", "in-metrics"].contains(&t.name) {
                0
            } else {
                t.partitions as usize
            };
            assert_eq!(
                flushes, expected,
                "{}: one flush record per partition",
                t.name
            );
        }
    }
}
