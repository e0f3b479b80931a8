//! Restoration rate: a count-by-key application starts on a changelog that already holds
//! `--records` updates, with an empty state directory, and restores it in full before
//! processing. Prints changelog records restored per second, for the persistent (fjall)
//! store and the in-memory one.
//!
//! `--writer` chooses who writes the changelog: a plain producer (the default), or
//! kstreams itself counting an input topic at least once or exactly once (`alos`, `eos`);
//! under exactly-once the changelog holds a transaction marker per partition per commit,
//! which restoration reads past.
//!
//! Run: `cargo run --release -p kstreams-bench --bin restore_bench -- --bootstrap 127.0.0.1:9092`
//! (without it, the in-process mock broker; keep records × 24 bytes / partitions under its
//! ~5 MiB per-partition retention).

use clap::Parser;
use kstreams::runtime::kafka::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};
use kstreams::serde::StringSerde;
use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
use kstreams_testkit::broker::TestBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long)]
    bootstrap: Option<String>,
    /// Changelog records to restore.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Distinct keys among them.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Partitions (tasks).
    #[arg(long, default_value_t = 16)]
    partitions: i32,
    /// A librdkafka consumer setting, `key=value`, for the application's consumers (the
    /// restore consumer among them); repeatable. `fetch.queue.backoff.ms=1000` measures
    /// librdkafka's default against kstreams'.
    #[arg(long = "consumer-config", value_parser = kstreams_testkit::broker::parse_client_setting)]
    consumer_config: Vec<(String, String)>,
    /// Who writes the changelog.
    #[arg(long, value_enum, default_value_t = Writer::Producer)]
    writer: Writer,
}

/// Who writes the changelog before the restore.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Writer {
    /// A plain producer, in the store's changelog layout.
    Producer,
    /// kstreams counting an input topic, at least once, without a record cache (one
    /// changelog record per key and commit: change logging folds a key's updates until the
    /// commit).
    Alos,
    /// The same, exactly once: transactions, with their commit markers in the changelog.
    Eos,
}

/// The count-by-key application whose store is restored.
fn count_app(input: &str, in_memory: bool) -> kstreams::Topology {
    let builder = StreamsBuilder::new();
    // No record cache: every update reaches the store, and change logging folds them into
    // one changelog record per key and commit.
    let m = Materialized::named("counts").with_caching_disabled();
    let m = if in_memory { m.in_memory() } else { m };
    builder
        .stream(input, Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde))
        .count(m);
    builder.build().expect("topology")
}

/// Sum of the offsets `group` committed on `topic`'s partitions.
fn committed_offsets(consumer: &BaseConsumer, topic: &str, partitions: i32) -> i64 {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets")
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

/// Sum of the high watermarks of `topic`'s partitions.
fn end_offsets(consumer: &BaseConsumer, topic: &str, partitions: i32) -> i64 {
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .sum()
}

fn run(broker: &TestBroker, args: &Args, in_memory: bool) {
    let app = TestBroker::unique("restore");
    let input = TestBroker::unique("restore-in");
    broker.create_topic(&input, args.partitions).expect("topic");
    let changelog = format!("{app}-counts-changelog");
    broker
        .create_topic(&changelog, args.partitions)
        .expect("topic");
    let t = Instant::now();
    // One client, in the writer's group, for every look at what the writer committed and at
    // the changelog's end, however long the writer takes. It never joins the group.
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", &app)
        .create()
        .expect("consumer");
    let guarantee = match args.writer {
        Writer::Producer => None,
        Writer::Alos => Some(ProcessingGuarantee::AtLeastOnce),
        Writer::Eos => Some(ProcessingGuarantee::ExactlyOnceV2),
    };
    // The plain producer writes the changelog as a count-by-key store writes it (Kafka
    // Streams' layout): string key, the 8-byte count, the count's timestamp as the
    // record's. kstreams writes it from an input topic of the same keys, partitioned the
    // same way.
    let producer = broker.producer();
    let target = if guarantee.is_some() {
        &input
    } else {
        &changelog
    };
    for i in 0..args.records {
        let key = format!("customer-{:06}", i % args.keys);
        let value = ((i / args.keys + 1) as i64).to_be_bytes();
        let partition = (i % args.keys % args.partitions as u64) as i32;
        let mut rec = BaseRecord::to(target)
            .key(key.as_bytes())
            .payload(&value[..])
            .partition(partition)
            .timestamp(1_700_000_000_000 + i as i64);
        while let Err((_, back)) = producer.send(rec) {
            producer.poll(Duration::from_millis(5));
            rec = back;
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("records written");
    if let Some(g) = guarantee {
        let dir = std::env::temp_dir().join(format!(
            "kstreams-restore-bench-writer-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let writer = KafkaStreams::new(
            count_app(&input, in_memory),
            StreamsConfig::new(&app, broker.bootstrap())
                .state_dir(&dir)
                .processing_guarantee(g),
        );
        writer.start().expect("writer start");
        // Done once the writer has committed the whole input: its changelog holds a record
        // per key and commit (plus markers under exactly-once).
        while committed_offsets(&watermarks, &input, args.partitions) < args.records as i64 {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Closing commits the last transaction.
        writer.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "{} records written as a changelog by {:?} in {:.1} s (changelog end offsets {})",
        args.records,
        args.writer,
        t.elapsed().as_secs_f64(),
        end_offsets(&watermarks, &changelog, args.partitions)
    );

    let state_dir =
        std::env::temp_dir().join(format!("kstreams-restore-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    let mut config = StreamsConfig::new(&app, broker.bootstrap()).state_dir(&state_dir);
    for (k, v) in &args.consumer_config {
        config = config.consumer_config(k, v);
    }
    // The instance runs with the default budget.
    let budget = kstreams::state::MemoryBudget::default();
    let streams = KafkaStreams::new(count_app(&input, in_memory), config);
    // The peak from here on is the restoring instance's (and, on the mock, the broker's,
    // which holds the changelog in this process); right after the reset it is the size
    // of the process now.
    kstreams_bench::reset_peak_rss().expect("reset the peak RSS (/proc/self/clear_refs)");
    let before = kstreams_bench::peak_rss_since_reset_mib().expect("RSS");
    let start = Instant::now();
    streams.start().expect("start");
    while streams.state() != State::Running {
        std::thread::sleep(Duration::from_millis(10));
    }
    let until_running = start.elapsed();
    let peak = kstreams_bench::peak_rss_since_reset_mib().expect("peak RSS");
    let (restored, took) = streams.restoration();
    let store = streams.store::<String, i64>("counts").expect("store");
    let sample = store.get(&"customer-000007".to_string()).ok().flatten();
    streams.close();
    let _ = std::fs::remove_dir_all(&state_dir);
    println!(
        "{:<10} restored {restored} records in {:.2} s: {:.0} records/s (start to RUNNING {:.2} s; customer-000007 = {sample:?})",
        if in_memory { "in-memory" } else { "fjall" },
        took.as_secs_f64(),
        restored as f64 / took.as_secs_f64(),
        until_running.as_secs_f64()
    );
    println!(
        "{:<10} peak RSS while restoring {peak:.0} MiB, {:.0} MiB above the process before it started; memory budget {} MiB",
        "",
        peak - before,
        budget.total_bytes >> 20
    );
}

fn main() {
    let args = Args::parse();
    if let Some(b) = &args.bootstrap {
        std::env::set_var("KSTREAMS_BOOTSTRAP", b);
    }
    let broker = TestBroker::from_env();
    println!(
        "broker: {}; {} records, {} keys, {} partitions; consumer settings {:?}; written by {:?}",
        if broker.mock().is_some() {
            "in-process mock"
        } else {
            broker.bootstrap()
        },
        args.records,
        args.keys,
        args.partitions,
        args.consumer_config,
        args.writer
    );
    run(&broker, &args, false);
    run(&broker, &args, true);
}
