//! Emit-final across a change of owner, on the task and its fjall store reopened: the new
//! owner resumes the progress the old one committed (the task's processor metadata, as
//! Kafka Streams keeps it in the committed offsets), so a window closed before the restart
//! is not emitted again, and a window that closed only by the time the task resumed, but
//! never reached the aggregation's close, is emitted, not skipped.

use kstreams::dsl::{EmitStrategy, TimeWindows, WindowedSerde};
use kstreams::error::StreamsError;
use kstreams::internals::{
    FjallDatabase, InputRecord, OutgoingRecord, RecordCollector, Task, TaskConfig,
};
use kstreams::processor::Headers;
use kstreams::runtime::TaskId;
use kstreams::serde::{I64Serde, Nullable, Serde, StringSerde};
use kstreams::state::MemoryBudget;
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, Topology};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SIZE_MS: i64 = 10_000;

/// The final counts sent to "out", as `key@start=count`.
#[derive(Clone, Default)]
struct Finals(Arc<Mutex<Vec<String>>>);

impl RecordCollector for Finals {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        if r.topic == "out" {
            let key = WindowedSerde::new(StringSerde, SIZE_MS)
                .deserialize(r.key.unwrap_or_default())
                .unwrap();
            let count = I64Serde.deserialize(r.value.unwrap_or_default()).unwrap();
            let line = format!("{}@{}={count}", key.key, key.window.start);
            self.0.lock().unwrap().push(line);
        }
        Ok(())
    }
    fn partition_count(&self, _topic: &str) -> Option<u32> {
        Some(1)
    }
}

/// Lines whose value is "skip" are filtered out before the aggregation: they move the
/// task's stream time, and not the aggregation's.
fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .filter(|_, v| v != "skip")
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(SIZE_MS as u64),
            Duration::ZERO,
        ))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count(Materialized::named("finals"))
        .to_stream()
        .to(
            "out",
            Produced::with(WindowedSerde::new(StringSerde, SIZE_MS), Nullable(I64Serde)),
        );
    builder.build().unwrap()
}

/// What an owner commits: the partition time and the processor metadata.
type Committed = (i64, BTreeMap<String, i64>);

/// One owner of task 0_0 over the database in `dir`: resumes `committed`, processes
/// `records` (key, value, timestamp), flushes and closes; returns its final results and
/// what it would commit.
fn owner(
    dir: &Path,
    committed: Option<&Committed>,
    records: &[(&str, &str, i64)],
) -> (Vec<String>, Committed) {
    let mut config = TaskConfig::new("finals");
    config.database = Some(FjallDatabase::open(dir, MemoryBudget::default()).unwrap());
    let finals = Finals::default();
    let mut task: Task = topology()
        .create_task(TaskId::new(0, 0), &config, Box::new(finals.clone()))
        .unwrap();
    if let Some((time, metadata)) = committed {
        task.resume_partition_time("in", *time);
        for (k, v) in metadata {
            task.resume_processor_metadata(k, *v);
        }
    }
    for (i, (key, value, ts)) in records.iter().enumerate() {
        task.process(InputRecord {
            topic: "in",
            partition: 0,
            offset: i as i64,
            timestamp: *ts,
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            headers: Headers::new(),
        })
        .unwrap();
    }
    task.flush().unwrap();
    let committed = (
        task.partition_time("in").unwrap(),
        task.processor_metadata().clone(),
    );
    task.close().unwrap();
    drop(task);
    let lines = finals.0.lock().unwrap().clone();
    (lines, committed)
}

/// A fresh state directory for one test, removed when dropped.
struct StateDir(std::path::PathBuf);

impl StateDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kstreams-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StateDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_window_emitted_before_the_restart_is_not_emitted_again() {
    let dir = StateDir::new("emit-final-again");
    let (first, committed) = owner(dir.path(), None, &[("a", "x", 1_000), ("a", "x", 12_000)]);
    assert_eq!(first, ["a@0=1"]);
    assert_eq!(
        committed.1.get("finals"),
        Some(&12_000),
        "the close time emitted up to is committed under the store's name"
    );
    let (second, _) = owner(
        dir.path(),
        Some(&committed),
        &[("a", "x", 13_000), ("a", "x", 21_000)],
    );
    assert_eq!(second, ["a@10000=2"], "a@0 was final before the restart");
}

#[test]
fn a_window_closed_only_by_the_resumed_time_is_emitted_after_the_restart() {
    let dir = StateDir::new("emit-final-resumed");
    // The skipped line moves the task to 25 s; the aggregation only saw 1 s, so a@0 is
    // still open when the first owner stops.
    let (first, committed) = owner(
        dir.path(),
        None,
        &[("a", "x", 1_000), ("b", "skip", 25_000)],
    );
    assert!(first.is_empty(), "{first:?}");
    assert_eq!(committed.0, 25_000);
    let (second, _) = owner(dir.path(), Some(&committed), &[("c", "x", 26_000)]);
    assert_eq!(
        second,
        ["a@0=1"],
        "closed by the resumed time, emitted once"
    );
}
