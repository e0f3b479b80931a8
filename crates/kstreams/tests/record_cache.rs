//! The record cache of a DSL store, on and off: either way a key updated many times between
//! two commits reaches the changelog once, and the counts are the same. With the cache (the
//! default) the cache folds the updates before the store; with
//! `Materialized::with_caching_disabled` every update reaches the store, and change logging
//! folds them until the commit.

use kstreams::error::StreamsError;
use kstreams::internals::{InputRecord, OutgoingRecord, RecordCollector, Task, TaskConfig};
use kstreams::processor::Headers;
use kstreams::runtime::TaskId;
use kstreams::serde::StringSerde;
use kstreams::state::{CacheBudget, MemoryBudget};
use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
use std::sync::{Arc, Mutex};

/// Counts what each topic is sent.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<String>>>);

impl RecordCollector for Sent {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        self.0.lock().unwrap().push(r.topic.to_string());
        Ok(())
    }
    fn partition_count(&self, _topic: &str) -> Option<u32> {
        Some(1)
    }
}

/// Counts 50 updates of each of 3 keys, flushing once at the end; returns the changelog
/// records sent and the final counts.
fn run(materialized: Materialized<String, i64>) -> (usize, Vec<(String, i64)>) {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(materialized.in_memory());
    let topology = builder.build().unwrap();
    let mut config = TaskConfig::new("cache");
    config.cache_budget = Some(CacheBudget::new(
        MemoryBudget::default().record_cache_bytes(),
    ));
    let sent = Sent::default();
    let mut task: Task = topology
        .create_task(TaskId::new(0, 0), &config, Box::new(sent.clone()))
        .unwrap();
    for i in 0..150i64 {
        let key = format!("k{}", i % 3);
        task.process(InputRecord {
            topic: "in",
            partition: 0,
            offset: i,
            timestamp: i,
            key: Some(key.as_bytes()),
            value: Some(b"v"),
            headers: Headers::new(),
        })
        .unwrap();
    }
    task.flush().unwrap();
    let changelog = sent
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.ends_with("-changelog"))
        .count();
    let mut counts = task
        .store("counts")
        .unwrap()
        .read_only::<String, i64>()
        .unwrap()
        .all()
        .unwrap();
    counts.sort();
    (changelog, counts)
}

#[test]
fn caching_folds_updates_between_commits_and_can_be_turned_off() {
    let expected: Vec<(String, i64)> = (0..3).map(|k| (format!("k{k}"), 50)).collect();
    let (cached, counts) = run(Materialized::named("counts"));
    assert_eq!(counts, expected);
    assert_eq!(cached, 3, "one changelog record per key at the flush");
    let (uncached, counts) = run(Materialized::named("counts").with_caching_disabled());
    assert_eq!(counts, expected);
    assert_eq!(
        uncached, 3,
        "change logging folds each key's updates until the flush"
    );
}
