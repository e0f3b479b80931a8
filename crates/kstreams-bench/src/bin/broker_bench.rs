//! kstreams against a hand-written rdkafka consume-transform-produce loop, on the same
//! broker in one run: filter plus map_values over JSON records, and a tumbling-window count
//! per key into the persistent store. Then end-to-end latency at a fixed input rate.
//!
//! Run: `cargo run --release -p kstreams-bench --bin broker_bench -- --bootstrap 127.0.0.1:9092`
//! (without `--bootstrap`: `KSTREAMS_BOOTSTRAP`, else the in-process mock broker, where the
//! record count must stay under its retention of about 5 MiB per partition).

use clap::Parser;
use kstreams::dsl::{TimeWindows, WindowedSerde};
use kstreams::runtime::kafka::{KafkaStreams, ProcessingGuarantee, StreamsConfig};
use kstreams::serde::{I64Serde, JsonSerde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_bench::peers::observer::now_ms;
use kstreams_bench::peers::workloads::RawLoop;
use kstreams_bench::{process_cpu_seconds, quantile, Purchase};
use kstreams_testkit::broker::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{BaseRecord, Producer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Broker; default `KSTREAMS_BOOTSTRAP`, else the in-process mock.
    #[arg(long)]
    bootstrap: Option<String>,
    /// Records for the throughput runs.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Input rate of the latency run, records/s.
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Duration of the latency run, seconds.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Commit interval of the latency run, ms (a commit waits for the producer's acks).
    #[arg(long, default_value_t = 1000)]
    latency_commit_ms: u64,
    /// Commit interval of both systems, ms.
    #[arg(long, default_value_t = 1000)]
    commit_ms: u64,
    /// Instead: exactly-once against at-least-once on filter+map_values (needs a broker
    /// with transactions: the mock, or Kafka; not Tansu, which has no EndTxn).
    #[arg(long)]
    eos: bool,
}

struct RunResult {
    /// From start (group join included) to the last record, and the final commit.
    secs: f64,
    /// From the first record processed to the last, and the final commit.
    processing_secs: f64,
    cpu: f64,
    out: usize,
}

fn produce_input(broker: &TestBroker, topic: &str, n: usize) {
    broker.produce(
        topic,
        (0..n as u64).map(|i| {
            let p = Purchase::sample(i);
            (
                p.customer.clone(),
                serde_json::to_string(&p).unwrap_or_default(),
            )
        }),
    );
}

fn raw_loop(bootstrap: &str, input: &str, output: &str, n: usize, commit: Duration) -> RunResult {
    let group = TestBroker::unique("raw");
    let cpu0 = process_cpu_seconds();
    let start = Instant::now();
    let out = RawLoop {
        bootstrap,
        group: &group,
        input,
        output,
        commit,
        consumer_config: &[],
    }
    .run(|consumed| consumed >= n)
    .expect("raw loop");
    let secs = start.elapsed().as_secs_f64();
    RunResult {
        secs,
        processing_secs: secs,
        cpu: process_cpu_seconds() - cpu0,
        out,
    }
}

fn kstreams_topology(input: &str, output: &str) -> kstreams::Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            input,
            Consumed::with(StringSerde, JsonSerde::<Purchase>::new()),
        )
        .filter(|_, p| p.keep())
        .map_values(Purchase::normalized)
        .to(
            output,
            Produced::with(StringSerde, JsonSerde::<Purchase>::new()),
        );
    builder.build().expect("topology")
}

/// Purchases per customer and one-minute window (record time), into the fjall store.
fn windowed_topology(input: &str, output: &str) -> kstreams::Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            input,
            Consumed::with(StringSerde, JsonSerde::<Purchase>::new()),
        )
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(60),
            Duration::from_secs(5),
        ))
        .count(Materialized::named("purchases-per-minute"))
        .to_stream()
        .to(
            output,
            Produced::with(WindowedSerde::new(StringSerde, 60_000), Nullable(I64Serde)),
        );
    builder.build().expect("topology")
}

fn kstreams_run(
    broker: &TestBroker,
    topology: kstreams::Topology,
    input: &str,
    partitions: u32,
    n: usize,
    config: impl FnOnce(StreamsConfig) -> StreamsConfig,
) -> RunResult {
    let app = TestBroker::unique("ks");
    broker
        .prepare_internal_topics(&topology, &app, &|t| (t == input).then_some(partitions))
        .expect("internal topics");
    let config = config(StreamsConfig::new(app, broker.bootstrap()));
    let streams = KafkaStreams::new(topology, config);
    let cpu0 = process_cpu_seconds();
    let start = Instant::now();
    streams.start().expect("start");
    while streams.processed() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let first = Instant::now();
    while (streams.processed() as usize) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    streams.close();
    RunResult {
        secs: start.elapsed().as_secs_f64(),
        processing_secs: first.elapsed().as_secs_f64(),
        cpu: process_cpu_seconds() - cpu0,
        out: 0,
    }
}

fn latency_run(broker: &TestBroker, args: &Args) -> (f64, f64, usize) {
    let (input, output) = (TestBroker::unique("lat-in"), TestBroker::unique("lat-out"));
    broker.create_topic(&input, args.partitions).expect("topic");
    broker
        .create_topic(&output, args.partitions)
        .expect("topic");
    // Brokers without long-poll wake-up (the mock) answer a fetch only after
    // fetch.wait.max.ms when it starts empty; a low-latency deployment lowers it.
    let config = StreamsConfig::new(TestBroker::unique("lat"), broker.bootstrap())
        .commit_interval(Duration::from_millis(args.latency_commit_ms))
        .client_config("fetch.wait.max.ms", "5");
    let streams = KafkaStreams::new(kstreams_topology(&input, &output), config);
    streams.start().expect("start");
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("group.id", TestBroker::unique("lat-reader"))
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "5")
            .create()
            .expect("reader");
        consumer.subscribe(&[&output]).expect("subscribe");
        let done = done.clone();
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                    if let Timestamp::CreateTime(t) = m.timestamp() {
                        lat.push((now_ms() - t) as f64);
                    }
                }
            }
            lat
        })
    };
    // Give the group time to settle before measuring.
    std::thread::sleep(Duration::from_secs(3));
    let producer = broker.producer();
    let total = args.rate * args.latency_secs;
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / args.rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let p = Purchase::sample(i);
        let v = serde_json::to_string(&p).unwrap_or_default();
        let mut rec = BaseRecord::to(&input)
            .key(p.customer.as_bytes())
            .payload(v.as_bytes())
            .timestamp(now_ms());
        while let Err((_, back)) = producer.send(rec) {
            producer.poll(Duration::from_millis(1));
            rec = back;
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).ok();
    std::thread::sleep(Duration::from_secs(2));
    done.store(true, Ordering::Relaxed);
    let mut lat = reader.join().unwrap_or_default();
    streams.close();
    lat.sort_by(f64::total_cmp);
    (quantile(&lat, 0.5), quantile(&lat, 0.99), lat.len())
}

/// The same filter+map_values under both guarantees; exactly-once at its default commit
/// interval (100 ms) and at the at-least-once run's.
fn eos_vs_alos(broker: &TestBroker, input: &str, args: &Args) {
    let commit = Duration::from_millis(args.commit_ms);
    let run = |name: &str, config: &dyn Fn(StreamsConfig) -> StreamsConfig| {
        let out = TestBroker::unique(name);
        broker.create_topic(&out, args.partitions).expect("topic");
        let r = kstreams_run(
            broker,
            kstreams_topology(input, &out),
            input,
            args.partitions as u32,
            args.records,
            config,
        );
        // Every record processed must also be readable downstream.
        let expected = (0..args.records as u64)
            .filter(|&i| Purchase::sample(i).keep())
            .count();
        let got = broker
            .consume(&out, args.partitions, expected, Duration::from_secs(120))
            .len();
        assert_eq!(got, expected, "{name}: output count");
        r
    };
    let alos = run("alos-out", &|c| c.commit_interval(commit));
    let eos = |c: StreamsConfig| c.processing_guarantee(ProcessingGuarantee::ExactlyOnceV2);
    let eos_default = run("eos-out", &eos);
    let eos_same = run("eos-same-out", &|c| eos(c).commit_interval(commit));
    let n = args.records as f64;
    println!();
    println!("| guarantee | commit interval | records/s (first to last record) | CPU µs/record | wall s (with group join) |");
    println!("|---|---|---|---|---|");
    for (name, ms, r) in [
        ("at-least-once", args.commit_ms, &alos),
        ("exactly-once v2", 100, &eos_default),
        ("exactly-once v2", args.commit_ms, &eos_same),
    ] {
        println!(
            "| {name} | {ms} ms | {:.0} | {:.2} | {:.2} |",
            n / r.processing_secs,
            r.cpu / n * 1e6,
            r.secs
        );
    }
    println!(
        "eos_fraction_of_alos={:.3}",
        alos.processing_secs / eos_default.processing_secs
    );
    println!(
        "eos_fraction_of_alos_same_commit_interval={:.3}",
        alos.processing_secs / eos_same.processing_secs
    );
}

fn main() {
    let args = Args::parse();
    if let Some(b) = &args.bootstrap {
        std::env::set_var("KSTREAMS_BOOTSTRAP", b);
    }
    let broker = TestBroker::from_env();
    let where_ = if broker.mock().is_some() {
        "in-process mock broker"
    } else {
        broker.bootstrap()
    };
    println!(
        "broker: {where_}; {} records of ~{} bytes JSON, {} partitions",
        args.records,
        serde_json::to_string(&Purchase::sample(1)).map_or(0, |s| s.len()),
        args.partitions
    );
    let commit = Duration::from_millis(args.commit_ms);
    let input = TestBroker::unique("bench-in");
    broker.create_topic(&input, args.partitions).expect("topic");
    let t = Instant::now();
    produce_input(&broker, &input, args.records);
    println!("input produced in {:.1} s", t.elapsed().as_secs_f64());

    if args.eos {
        eos_vs_alos(&broker, &input, &args);
        return;
    }
    let raw_out = TestBroker::unique("raw-out");
    broker
        .create_topic(&raw_out, args.partitions)
        .expect("topic");
    let raw = raw_loop(broker.bootstrap(), &input, &raw_out, args.records, commit);
    let ks_out = TestBroker::unique("ks-out");
    broker
        .create_topic(&ks_out, args.partitions)
        .expect("topic");
    let ks = kstreams_run(
        &broker,
        kstreams_topology(&input, &ks_out),
        &input,
        args.partitions as u32,
        args.records,
        |c| c.commit_interval(commit),
    );
    let win_out = TestBroker::unique("win-out");
    broker
        .create_topic(&win_out, args.partitions)
        .expect("topic");
    let win = kstreams_run(
        &broker,
        windowed_topology(&input, &win_out),
        &input,
        args.partitions as u32,
        args.records,
        |c| c.commit_interval(commit),
    );
    let n = args.records as f64;
    println!();
    println!("| system | records/s | CPU µs/record | wall s |");
    println!("|---|---|---|---|");
    for (name, r) in [
        ("raw rdkafka loop", &raw),
        ("kstreams filter+map_values", &ks),
        ("kstreams tumbling-window count (fjall)", &win),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            n / r.secs,
            r.cpu / n * 1e6,
            r.secs
        );
    }
    println!("raw loop wrote {} records", raw.out);
    println!("kstreams_fraction_of_raw={:.3}", raw.secs / ks.secs);
    println!("kstreams_cpu_vs_raw={:.3}", ks.cpu / raw.cpu);
    println!("windowed_fraction_of_raw={:.3}", raw.secs / win.secs);

    let (p50, p99, samples) = latency_run(&broker, &args);
    println!(
        "latency at {} records/s for {} s ({samples} samples): p50={p50:.1} ms p99={p99:.1} ms",
        args.rate, args.latency_secs
    );
}
