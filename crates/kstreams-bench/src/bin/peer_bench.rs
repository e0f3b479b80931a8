//! kstreams against Kafka Streams, Quix Streams and a raw rdkafka loop, workload by
//! workload, each system as its own process on Apache Kafka (started with
//! `tools/kafka/run`, fresh topics and groups per run). Prints a markdown table and the
//! ratios the targets are stated in; `docs/benchmarks.md` holds a run.
//!
//! Run: `cargo run --release -p kstreams-bench --bin peer_bench`
//!
//! The `worker` subcommand is what the driver starts for kstreams and the raw loop. Kafka
//! Streams runs `PeerWorker` of `conformance/kafka-streams` (built with Maven once per
//! invocation), Quix Streams `quix/worker.py`.

use clap::{Args, Parser, Subcommand};
use kstreams::runtime::kafka::http::logs::KafkaLogLayer;
use kstreams::runtime::kafka::{wait_for_shutdown_signal, KafkaStreams, StreamsConfig};
use kstreams_bench::peers::kafka_streams::JavaWorker;
use kstreams_bench::peers::run::{self, RunResult, Settings};
use kstreams_bench::peers::workloads::{kstreams_topology, RawLoop, System, Workload};
use kstreams_bench::peers::{quix, report, BenchError};
use kstreams_testkit::kafka::KafkaCluster;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

#[derive(Parser, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    worker: Option<Cmd>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// One system on one workload until SIGTERM (started by the driver).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Input records of W1–W3, the warm-up's included.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Records of the warm-up under load that every system gets after its first output
    /// and before the measured span (W1–W3 at full speed, W4 at `--rate`); fewer than
    /// `--records`.
    #[arg(long, default_value_t = 100_000)]
    warmup_records: u64,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Commit interval of every system, ms (Quix Streams' default).
    #[arg(long, default_value_t = 5_000)]
    commit_ms: u64,
    /// W4's input rate, records/s.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// W4's measured duration, s.
    #[arg(long, default_value_t = 20)]
    latency_secs: u64,
    /// W4's `fetch.wait.max.ms` for every consumer: librdkafka's default. Kafka answers a
    /// waiting fetch as soon as records arrive, so it bounds only an idle fetch.
    #[arg(long, default_value_t = 500)]
    fetch_wait_ms: u64,
    /// An Apache Kafka cluster to use instead of starting one with `tools/kafka/run`
    /// (its CPU is then not measured).
    #[arg(long)]
    bootstrap: Option<String>,
    /// Workloads to run.
    #[arg(long, value_delimiter = ',', default_value = "w1,w2,w3,w4")]
    workloads: Vec<Workload>,
    /// Systems to run (the raw loop runs W1 and W4 only; kstreams-http is kstreams with
    /// its HTTP endpoints, status snapshots and log shipping on, scraped every second;
    /// kstreams-py, not run by default, is the Python package, built in release mode).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "raw,kstreams,kstreams-http,kafka-streams,quix"
    )]
    systems: Vec<System>,
    /// Runs of each system and workload; the table shows medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// The Quix Streams virtual environment, created if missing.
    #[arg(long, default_value_os_t = default_cache().join("quix-venv"))]
    venv: PathBuf,
    /// The virtual environment kstreams' Python package is installed into (kstreams-py).
    #[arg(long, default_value_os_t = default_cache().join("kstreams-py-venv"))]
    kstreams_py_venv: PathBuf,
    /// Logs, state and the Kafka Streams worker's classpath file of the runs.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("kstreams-peer-bench"))]
    work_dir: PathBuf,
}

#[derive(Args, Debug)]
struct WorkerArgs {
    #[arg(long)]
    system: System,
    #[arg(long)]
    workload: Workload,
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    input: String,
    #[arg(long)]
    output: String,
    #[arg(long)]
    group: String,
    #[arg(long)]
    state_dir: PathBuf,
    #[arg(long)]
    commit_ms: u64,
    /// `key=value` librdkafka consumer settings.
    #[arg(long, value_parser = kstreams_testkit::broker::parse_client_setting)]
    consumer_config: Vec<(String, String)>,
}

fn default_cache() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/kstreams-bench")
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.worker {
        Some(Cmd::Worker(w)) => worker(w),
        None => bench(cli.bench),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn worker(a: WorkerArgs) -> Result<(), BenchError> {
    let consumer_config = a.consumer_config;
    let stderr_filter =
        || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    match a.system {
        System::Kstreams | System::KstreamsHttp => {
            let with_http = a.system == System::KstreamsHttp;
            let topology = kstreams_topology(a.workload, &a.input, &a.output)?;
            let mut config = StreamsConfig::new(&a.group, &a.bootstrap)
                .num_stream_threads(1)
                .commit_interval(Duration::from_millis(a.commit_ms))
                .state_dir(&a.state_dir);
            if with_http {
                config = config.http_listener("127.0.0.1:0");
            }
            for (k, v) in consumer_config {
                config = config.consumer_config(k, v);
            }
            let shipper = if with_http {
                // Every info event goes to the log topic, as an operator would run it.
                let (layer, shipper) = KafkaLogLayer::new(&config)
                    .map_err(|e| BenchError::Broker(format!("log shipping: {e}")))?;
                tracing_subscriber::registry()
                    .with(layer.with_filter(LevelFilter::INFO))
                    .with(tracing_subscriber::fmt::layer().with_filter(stderr_filter()))
                    .init();
                Some(shipper)
            } else {
                tracing_subscriber::fmt()
                    .with_env_filter(stderr_filter())
                    .init();
                None
            };
            let streams = KafkaStreams::new(topology, config);
            streams
                .start()
                .map_err(|e| BenchError::Broker(format!("kstreams start: {e}")))?;
            let scraper = streams.http_local_addr().map(scrape_every_second);
            wait_for_shutdown_signal(&streams);
            if let Some((stop, handle)) = scraper {
                stop.store(true, Ordering::Relaxed);
                let _ = handle.join();
            }
            streams.close();
            if let Some(s) = shipper {
                s.close();
            }
            Ok(())
        }
        System::Raw => {
            tracing_subscriber::fmt()
                .with_env_filter(stderr_filter())
                .init();
            if !matches!(a.workload, Workload::W1 | Workload::W4) {
                return Err(BenchError::Topology(
                    "the raw loop runs W1 (and W4) only".into(),
                ));
            }
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone()).map_err(|e| BenchError::Spawn {
                    what: "raw loop".into(),
                    reason: format!("signal {sig}: {e}"),
                })?;
            }
            RawLoop {
                bootstrap: &a.bootstrap,
                group: &a.group,
                input: &a.input,
                output: &a.output,
                commit: Duration::from_millis(a.commit_ms),
                consumer_config: &consumer_config,
            }
            .run(|_| stop.load(Ordering::Relaxed))?;
            Ok(())
        }
        System::Quix | System::KstreamsPy => Err(BenchError::Topology(
            "Quix Streams and kstreams (Python) run their worker.py, not this binary".into(),
        )),
        System::KafkaStreams => Err(BenchError::Topology(
            "Kafka Streams runs PeerWorker of conformance/kafka-streams, not this binary".into(),
        )),
    }
}

/// Reads `/metrics` and `/state` once a second, as Prometheus and an open page would, so
/// that the cost measured includes answering them. Stops when the flag is set.
fn scrape_every_second(
    addr: std::net::SocketAddr,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        while !flag.load(Ordering::Relaxed) {
            for path in ["metrics", "state"] {
                let answer = agent
                    .get(&format!("http://{addr}/{path}"))
                    .call()
                    .and_then(|mut r| r.body_mut().read_to_string());
                if let Err(e) = answer {
                    tracing::warn!("scraping /{path}: {e}");
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    (stop, handle)
}

fn bench(a: BenchArgs) -> Result<(), BenchError> {
    if a.warmup_records >= a.records {
        return Err(BenchError::Input(format!(
            "--warmup-records {} must be fewer than --records {}",
            a.warmup_records, a.records
        )));
    }
    // Kept alive until the end: dropping it stops the broker.
    let (cluster, bootstrap, broker_pid) = match &a.bootstrap {
        Some(b) => (None, b.clone(), None),
        None => {
            eprintln!(
                "starting Apache Kafka {} (tools/kafka/run)",
                KafkaCluster::version()
            );
            let c = KafkaCluster::start(1);
            let (b, pid) = (c.bootstrap().to_string(), c.pid(1));
            (Some(c), b, pid)
        }
    };
    let python = if a.systems.contains(&System::Quix) {
        Some(quix::ensure_venv(&a.venv)?)
    } else {
        None
    };
    let kstreams_python = if a.systems.contains(&System::KstreamsPy) {
        Some(kstreams_bench::peers::kstreams_py::ensure_venv(
            &a.kstreams_py_venv,
        )?)
    } else {
        None
    };
    let java = if a.systems.contains(&System::KafkaStreams) {
        eprintln!("building the Kafka Streams worker (mvn, conformance/kafka-streams)");
        Some(JavaWorker::build(&a.work_dir)?)
    } else {
        None
    };
    let settings = Settings {
        records: a.records,
        warmup_records: a.warmup_records,
        partitions: a.partitions,
        commit_ms: a.commit_ms,
        rate: a.rate,
        latency_secs: a.latency_secs,
        fetch_wait_ms: a.fetch_wait_ms,
        work_dir: a.work_dir.clone(),
        bootstrap: bootstrap.clone(),
        broker_pid,
        python: python.clone(),
        kstreams_python,
        java: java.clone(),
        self_exe: std::env::current_exe().map_err(|e| BenchError::Spawn {
            what: "peer_bench".into(),
            reason: e.to_string(),
        })?,
    };
    println!("## Setup\n");
    println!("- machine: {}", machine());
    match &cluster {
        Some(_) => println!(
            "- broker: Apache Kafka {} (one KRaft broker on 127.0.0.1, 1 GiB heap; fresh topics and groups per run)",
            KafkaCluster::version()
        ),
        None => println!("- broker: {bootstrap} (external; its CPU is not measured)"),
    }
    println!(
        "- kstreams {} on rdkafka (librdkafka {})",
        env!("CARGO_PKG_VERSION"),
        rdkafka::util::get_rdkafka_version().1
    );
    if let Some(j) = &java {
        println!("- {}", j.versions());
    }
    if let Some(p) = &python {
        println!("- {}", quix::versions(p));
    }
    println!(
        "- {} input records of ~{} bytes JSON (W1–W3, warm-up included), {} partitions, commit every {} ms, one processing thread per system; W4 at {} records/s for {} s",
        a.records,
        kstreams_bench::peers::workloads::input_record(1).map_or(0, |r| r.1.len()),
        a.partitions,
        a.commit_ms,
        a.rate,
        a.latency_secs
    );
    println!(
        "- warm-up, the same for every system: one record every 50 ms until the first output, then {} records (W1–W3 at full speed, W4 at {} records/s), until all their outputs have arrived; the measured span starts after it",
        a.warmup_records, a.rate
    );
    println!();
    let mut results: Vec<RunResult> = Vec::new();
    for &w in &a.workloads {
        // The raw loop has no state: it runs W1, and W4 to show the latency floor.
        let systems: Vec<System> = a
            .systems
            .iter()
            .copied()
            .filter(|&s| s != System::Raw || matches!(w, Workload::W1 | Workload::W4))
            .collect();
        // Rounds interleave the systems (round 1 of each, then round 2 of each, ...) so that
        // a drift of the machine or the broker during the workload weighs on all alike.
        let mut rounds: Vec<Vec<RunResult>> = vec![Vec::new(); systems.len()];
        for round in 0..a.rounds {
            for (i, &system) in systems.iter().enumerate() {
                eprintln!("{} {} round {}", w.id(), system.label(), round + 1);
                let r = run::run(&settings, system, w, round)?;
                eprintln!(
                    "  {:.0} records/s, {:.2} µs CPU/record, peak RSS {:.0} MiB{}",
                    r.throughput(),
                    r.cpu_us(),
                    r.exit.peak_rss_mib,
                    r.latency.map_or(String::new(), |(p50, p99, _)| format!(
                        ", p50 {p50:.0} ms, p99 {p99:.0} ms"
                    ))
                );
                rounds[i].push(r);
            }
        }
        results.extend(rounds.iter().filter_map(|r| report::median(r)));
    }
    println!("## Results\n");
    print!("{}", report::table(&results));
    println!();
    println!("{}", report::LEGEND);
    println!();
    for r in report::ratios(&results) {
        println!("{r}");
    }
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}
