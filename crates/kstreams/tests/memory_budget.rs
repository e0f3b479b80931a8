//! Peak memory follows the store memory budget, not the number of tasks or keys: 32 tasks
//! count 1.5 million distinct keys (about 150 MB of store data) into persistent stores
//! under a 16 MiB budget.
//!
//! Its own test binary, so the process's peak RSS is this test's alone.

use kstreams::error::StreamsError;
use kstreams::internals::{
    FjallDatabase, InputRecord, OutgoingRecord, RecordCollector, Task, TaskConfig,
};
use kstreams::processor::Headers;
use kstreams::runtime::TaskId;
use kstreams::serde::StringSerde;
use kstreams::state::{CacheBudget, MemoryBudget};
use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};

struct Discard;

impl RecordCollector for Discard {
    fn send(&mut self, _r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        Ok(())
    }
    fn partition_count(&self, _topic: &str) -> Option<u32> {
        Some(1)
    }
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn peak_rss_stays_within_the_budget_plus_overhead() {
    const TASKS: u32 = 32;
    const KEYS: u64 = 1_500_000;
    const BUDGET: u64 = 16 << 20;
    /// What the process needs besides the stores: code, fjall's worker threads, sealed
    /// memtables waiting for their flush, allocator slack, the test harness. Seen: peak
    /// 49 MiB in release, 61 MiB in a debug build (flushes lag further behind).
    const OVERHEAD: u64 = 64 << 20;

    let dir = std::env::temp_dir().join(format!("kstreams-memory-budget-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = FjallDatabase::open(&dir, MemoryBudget::new(BUDGET)).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(Materialized::named("counts"));
    let topology = builder.build().unwrap();
    let mut config = TaskConfig::new("budget");
    config.database = Some(db.clone());
    config.cache_budget = Some(CacheBudget::new(
        MemoryBudget::new(BUDGET).record_cache_bytes(),
    ));
    let mut tasks: Vec<Task> = (0..TASKS)
        .map(|p| {
            topology
                .create_task(TaskId::new(0, p), &config, Box::new(Discard))
                .unwrap()
        })
        .collect();
    let baseline = rss_kib("VmRSS:") * 1024;
    let value = "v".repeat(40);
    for i in 0..KEYS {
        // ~64 bytes of key, so the data set dwarfs the budget.
        let key = format!("customer-{i:012}-{:040}", i.wrapping_mul(0x9e37_79b9));
        let p = (i % TASKS as u64) as usize;
        tasks[p]
            .process(InputRecord {
                topic: "in",
                partition: p as u32,
                offset: (i / TASKS as u64) as i64,
                timestamp: i as i64,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                headers: Headers::new(),
            })
            .unwrap();
        if i % 100_000 == 99_999 {
            for t in &mut tasks {
                t.flush().unwrap();
            }
        }
    }
    let store_bytes = KEYS * (64 + 16);
    let peak = rss_kib("VmHWM:") * 1024;
    println!(
        "{TASKS} tasks, {KEYS} keys (~{} MiB of store data), budget {} MiB: baseline RSS {} MiB, peak RSS {} MiB",
        store_bytes >> 20,
        BUDGET >> 20,
        baseline >> 20,
        peak >> 20
    );
    // Spot-check the data is really there.
    let store = tasks[0]
        .store("counts")
        .unwrap()
        .read_only::<String, i64>()
        .unwrap();
    assert_eq!(store.all().unwrap().len() as u64, KEYS / TASKS as u64);
    assert!(
        peak <= BUDGET + OVERHEAD,
        "peak RSS {} MiB exceeds budget {} MiB + overhead {} MiB",
        peak >> 20,
        BUDGET >> 20,
        OVERHEAD >> 20
    );
    drop(tasks);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
