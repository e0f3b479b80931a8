//! In-process throughput through the task path: source deserialization, processors, store
//! and changelog writes, sink serialization, on one thread (one core). No broker; the
//! collector only counts.
//!
//! Run: `cargo run --release -p kstreams-bench --bin task_path [records] [only]`
//!
//! `only` runs just the cases whose name contains it, for profiling one of them; the
//! ratios are printed only when both of their cases ran.

use kstreams::dsl::{EmitStrategy, TimeWindows, WindowedSerde};
use kstreams::internals::{FjallDatabase, InputRecord, Task, TaskConfig};
use kstreams::processor::Headers;
use kstreams::runtime::TaskId;
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::state::{CacheBudget, MemoryBudget};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, Topology};
use kstreams_bench::{CountingCollector, Rng};
use std::time::{Duration, Instant};

struct Input {
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
}

fn inputs(n: usize, distinct_keys: u64, seed: u64) -> Input {
    let mut rng = Rng(seed);
    let words = [
        "alpha", "kafka", "stream", "record", "customer", "rust", "event", "table",
    ];
    let mut keys = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let r = rng.next_u64();
        keys.push(format!("customer-{:06}", r % distinct_keys).into_bytes());
        let w1 = words[(r >> 20) as usize % words.len()];
        let w2 = words[(r >> 30) as usize % words.len()];
        values.push(format!("{w1} {w2} {:08}", r >> 40).into_bytes());
    }
    Input { keys, values }
}

/// Best-of-`rounds` throughput in records/s; prints the line.
fn run(name: &str, topology: &Topology, input: &Input, rounds: usize) -> f64 {
    if !selected(name) {
        return f64::NAN;
    }
    let mut best = f64::MAX;
    let mut processed = 0;
    for round in 0..rounds {
        // Persistent stores get a fresh database per round, in a temporary directory.
        let dir =
            std::env::temp_dir().join(format!("kstreams-bench-{}-{round}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // As the runtime configures tasks: a record cache with the default budget's share.
        let mut config = TaskConfig::new("bench");
        config.cache_budget = Some(CacheBudget::new(
            MemoryBudget::default().record_cache_bytes(),
        ));
        if topology.has_persistent_stores() {
            config.database =
                Some(FjallDatabase::open(&dir, MemoryBudget::default()).expect("database"));
        }
        let mut task: Task = topology
            .create_task(
                TaskId::new(0, 0),
                &config,
                Box::new(CountingCollector::default()),
            )
            .expect("task");
        let start = Instant::now();
        for (i, (k, v)) in input.keys.iter().zip(&input.values).enumerate() {
            task.process(InputRecord {
                topic: "in",
                partition: 0,
                offset: i as i64,
                // 10 records per millisecond of event time: 2M records span 200 s.
                timestamp: i as i64 / 10,
                key: Some(k),
                value: Some(v),
                headers: Headers::new(),
            })
            .expect("process");
        }
        task.flush().expect("flush");
        best = best.min(start.elapsed().as_secs_f64());
        processed = task.metrics().processed;
        drop(task);
        drop(config);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let n = input.keys.len() as f64;
    println!(
        "{name:<42} {:>6.2} M records/s  {:>6.0} ns/record  ({processed} records, best of {rounds})",
        n / best / 1e6,
        best / n * 1e9,
    );
    n / best
}

/// Prints `name=ratio`, unless one of its cases was left out (NaN).
fn print_ratio(name: &str, ratio: f64) {
    if !ratio.is_nan() {
        println!("{name}={ratio:.2}");
    }
}

/// Whether the case named `name` is among those asked for on the command line.
fn selected(name: &str) -> bool {
    std::env::args()
        .nth(2)
        .is_none_or(|only| name.contains(&only))
}

fn count_topology(materialized: Materialized<String, i64>, to_sink: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let counts = builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(materialized);
    if to_sink {
        counts
            .to_stream()
            .to("out", Produced::with(StringSerde, Nullable(I64Serde)));
    }
    builder.build().expect("topology")
}

fn windowed_topology(materialized: Materialized<String, i64>, emit: EmitStrategy) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(60),
            Duration::from_secs(5),
        ))
        .emit_strategy(emit)
        .count(materialized)
        .to_stream()
        .to(
            "out",
            Produced::with(WindowedSerde::new(StringSerde, 60_000), Nullable(I64Serde)),
        );
    builder.build().expect("topology")
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let rounds = 5;

    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, StringSerde))
        .filter(|_, v| v.contains('a'))
        .map_values(|v| v.to_uppercase())
        .to("out", Produced::with(StringSerde, StringSerde));
    let stateless = builder.build().expect("topology");

    let input = inputs(n, 100_000, 42);
    println!(
        "kstreams task path, one thread, {n} records, 100k distinct keys, stores changelogged"
    );
    run("filter + map_values (to sink)", &stateless, &input, rounds);
    let mem = run(
        "count by key, in-memory store",
        &count_topology(Materialized::named("counts").in_memory(), false),
        &input,
        rounds,
    );
    run(
        "count by key + to_stream().to(sink), in-memory",
        &count_topology(Materialized::named("counts").in_memory(), true),
        &input,
        rounds,
    );
    let fjall = run(
        "count by key, fjall store (the default)",
        &count_topology(Materialized::named("counts"), false),
        &input,
        rounds,
    );
    print_ratio("fjall_fraction_of_in_memory", fjall / mem);
    println!("tumbling windows of 60 s, grace 5 s; event time advances 1 ms per 10 records");
    let cost = |name: &str, m: Materialized<String, i64>, emit| {
        1.0 / run(name, &windowed_topology(m, emit), &input, rounds)
    };
    let (update, fin) = (EmitStrategy::OnWindowUpdate, EmitStrategy::OnWindowClose);
    let mem_update = cost(
        "tumbling-window count, in-memory, emit on update",
        Materialized::named("w").in_memory(),
        update,
    );
    let fjall_update = cost(
        "tumbling-window count, fjall, emit on update",
        Materialized::named("w"),
        update,
    );
    let mem_final = cost(
        "tumbling-window count, in-memory, emit final",
        Materialized::named("w").in_memory(),
        fin,
    );
    let fjall_final = cost(
        "tumbling-window count, fjall, emit final",
        Materialized::named("w"),
        fin,
    );
    // Retention of size plus grace: the 200 s of event time expire two windows' worth.
    let short = Duration::from_secs(65);
    cost(
        "tumbling-window count, in-memory, 65 s retention",
        Materialized::named("w").in_memory().with_retention(short),
        update,
    );
    cost(
        "tumbling-window count, fjall, 65 s retention",
        Materialized::named("w").with_retention(short),
        update,
    );
    // The state issue's target: at most 1.5 for both.
    print_ratio(
        "window_fjall_cost_of_in_memory_on_update",
        fjall_update / mem_update,
    );
    print_ratio(
        "window_fjall_cost_of_in_memory_final",
        fjall_final / mem_final,
    );
}
