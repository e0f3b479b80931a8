//! Criterion micro-benchmarks of the in-process task path on the peer comparison's own
//! workloads (`peer_bench`): the same topologies and the same ~200-byte JSON records, but
//! no broker and no client library, so what is left is kstreams itself plus serde_json.
//!
//! A hand-written baseline does W1's work (parse, filter, map, serialize) without
//! kstreams; the difference is what the task path adds per record.
//!
//! Run: `cargo bench -p kstreams-bench --bench task_path`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kstreams::internals::{FjallDatabase, InputRecord, Task, TaskConfig};
use kstreams::processor::Headers;
use kstreams::runtime::TaskId;
use kstreams::state::{CacheBudget, MemoryBudget};
use kstreams_bench::peers::workloads::{input_record, kstreams_topology, Workload};
use kstreams_bench::{CountingCollector, Purchase};
use std::hint::black_box;

/// Records per measured iteration.
const BATCH: u64 = 10_000;
/// Records between two flushes of the stores, as a commit every second would at
/// 100k records/s.
const COMMIT_EVERY: i64 = 100_000;

struct Input {
    records: Vec<(String, Vec<u8>, i64)>,
}

fn input(n: u64) -> Input {
    Input {
        records: (0..n)
            .map(|id| input_record(id).expect("input record"))
            .collect(),
    }
}

/// A task for `w` as the runtime builds one, with a fjall database in `dir`.
fn task(w: Workload, dir: &std::path::Path) -> Task {
    let topology = kstreams_topology(w, "input", "output").expect("topology");
    let mut config = TaskConfig::new("bench");
    config.cache_budget = Some(CacheBudget::new(
        MemoryBudget::default().record_cache_bytes(),
    ));
    if topology.has_persistent_stores() {
        config.database = Some(FjallDatabase::open(dir, MemoryBudget::default()).expect("db"));
    }
    topology
        .create_task(
            TaskId::new(0, 0),
            &config,
            Box::new(CountingCollector::default()),
        )
        .expect("task")
}

fn workloads(c: &mut Criterion) {
    let data = input(BATCH * 20);
    let mut group = c.benchmark_group("task_path");
    group.throughput(Throughput::Elements(BATCH));
    for w in [Workload::W1, Workload::W2, Workload::W3] {
        let dir = std::env::temp_dir().join(format!(
            "kstreams-criterion-{}-{}",
            w.id(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut task = task(w, &dir);
        // Offsets keep growing across iterations; the input cycles, so stores see
        // updates of keys they already hold, as in a long run.
        let mut offset = 0i64;
        let mut next = 0usize;
        group.bench_function(format!("{} {}", w.id(), w.describe()), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let (key, value, ts) = &data.records[next];
                    next = (next + 1) % data.records.len();
                    task.process(InputRecord {
                        topic: "input",
                        partition: 0,
                        offset,
                        timestamp: *ts,
                        key: Some(key.as_bytes()),
                        value: Some(value),
                        headers: Headers::new(),
                    })
                    .expect("process");
                    offset += 1;
                    if offset % COMMIT_EVERY == 0 {
                        task.flush().expect("flush");
                    }
                }
            })
        });
        drop(task);
        let _ = std::fs::remove_dir_all(&dir);
    }
    // W1's work by hand, into one reused buffer: the floor under the task path.
    group.bench_function("w1 by hand (serde_json, no kstreams)", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter_batched_ref(
            || (),
            |_| {
                for (_, value, _) in data.records.iter().take(BATCH as usize) {
                    let p: Purchase = serde_json::from_slice(value).expect("json");
                    if p.keep() {
                        out.clear();
                        serde_json::to_writer(&mut out, &p.normalized()).expect("json");
                        black_box(&out);
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, workloads);
criterion_main!(benches);
