//! `records`: the customer-records platform. `records demo` runs everything in one
//! process; every role can also run as its own process against one broker.

use clap::{Parser, Subcommand};
use kstreams::runtime::kafka::wait_for_shutdown_signal;
use kstreams_testkit::broker::TestBroker;
use records::demo::{self, DemoConfig};
use records::detectors;
use records::generate::GeneratorConfig;
use records::metrics;
use records::notify::NotifyConfig;
use records::roles::{self, RoleSettings};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Real-time customer-records analysis on kstreams")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a role connects and keeps its state.
#[derive(clap::Args, Clone)]
struct Connect {
    /// Broker (host:port).
    #[arg(long)]
    bootstrap: String,
    /// State directory of this process.
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// Commit interval, ms.
    #[arg(long, default_value_t = 1000)]
    commit_ms: u64,
    /// Partitions of the platform's topics (for internal topics on brokers without
    /// CreateTopics).
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Instance name, for metrics.
    #[arg(long, default_value = "instance")]
    instance: String,
}

impl Connect {
    fn settings(&self) -> RoleSettings {
        RoleSettings {
            bootstrap: self.bootstrap.clone(),
            state_dir: self
                .state_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join(format!("records-{}", self.instance))),
            commit: Duration::from_millis(self.commit_ms),
            create_internal_topics: false,
            partitions: self.partitions,
            instance: self.instance.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Publishes customers, then records with injected anomalies and invalid input, then
    /// the ground truth (`records-truth`).
    Generate {
        #[command(flatten)]
        connect: Connect,
        /// Records to generate.
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        /// Customers.
        #[arg(long, default_value_t = 50_000)]
        customers: usize,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Peak rate over the daily average.
        #[arg(long, default_value_t = 1.6)]
        peak: f64,
        /// Average records per day of event time.
        #[arg(long, default_value_t = 25_000_000.0)]
        per_day: f64,
        /// Cap on records sent per second of wall time (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Per record, the chance it starts an anomaly of each kind.
        #[arg(long, default_value_t = 0.0004)]
        anomaly: f64,
        /// Fraction of invalid records.
        #[arg(long, default_value_t = 0.005)]
        invalid: f64,
    },
    /// Volume benchmark: every role as its own process against --bootstrap, `records`
    /// records generated as fast as the broker takes them; prints wall time, records/s and
    /// peak memory per process.
    Bench {
        /// Broker (host:port).
        #[arg(long)]
        bootstrap: String,
        /// Records (25M is one day at the talk's average volume).
        #[arg(long, default_value_t = 25_000_000)]
        records: u64,
        /// Customers.
        #[arg(long, default_value_t = 1_000_000)]
        customers: usize,
        /// Partitions of every topic.
        #[arg(long, default_value_t = 8)]
        partitions: u32,
        /// Commit interval of every role, ms.
        #[arg(long, default_value_t = 1000)]
        commit_ms: u64,
    },
    /// Validates, dead-letters and enriches records.
    Ingest {
        #[command(flatten)]
        connect: Connect,
    },
    /// Runs one detector (amount-spike, velocity, new-country-device, dormant).
    Detector {
        /// The detector's name.
        name: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Turns alerts into notifications.
    Notify {
        #[command(flatten)]
        connect: Connect,
    },
    /// Aggregates every instance's metrics and serves them for Prometheus.
    MetricsAgg {
        #[command(flatten)]
        connect: Connect,
        /// Address of the Prometheus endpoint.
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: String,
    },
    /// Everything in one process, on the embedded broker unless --bootstrap is given.
    Demo {
        /// Broker (host:port); default: the embedded in-process broker.
        #[arg(long)]
        bootstrap: Option<String>,
        /// Records to generate.
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        /// Customers.
        #[arg(long, default_value_t = 50_000)]
        customers: usize,
        /// Partitions of every topic.
        #[arg(long, default_value_t = 8)]
        partitions: u32,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Peak rate over the daily average.
        #[arg(long, default_value_t = 1.6)]
        peak: f64,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Generate {
            connect,
            records,
            customers,
            seed,
            peak,
            per_day,
            rate,
            anomaly,
            invalid,
        } => {
            let report = records::publish::run(
                &connect.bootstrap,
                connect.partitions,
                GeneratorConfig {
                    seed,
                    records,
                    customers,
                    peak,
                    per_day,
                    anomaly,
                    invalid,
                    ..Default::default()
                },
                rate,
            )?;
            println!("{report}");
        }
        Command::Bench {
            bootstrap,
            records,
            customers,
            partitions,
            commit_ms,
        } => records::bench::run(
            &bootstrap,
            partitions,
            commit_ms,
            GeneratorConfig {
                records,
                customers,
                ..Default::default()
            },
        )?,
        Command::Ingest { connect } => run_role(&connect, roles::ingest)?,
        Command::Detector { name, connect } => {
            let d = detectors::by_name(&name).ok_or_else(|| {
                let names: Vec<_> = detectors::all().iter().map(|d| d.name()).collect();
                format!("no detector {name:?}; there are {names:?}")
            })?;
            run_role(&connect, |s, b| roles::detector(s, b, d.as_ref()))?
        }
        Command::Notify { connect } => run_role(&connect, |s, b| {
            roles::notify(s, b, NotifyConfig::default())
        })?,
        Command::MetricsAgg { connect, listen } => {
            let settings = connect.settings();
            let broker = TestBroker::connect(Some(&connect.bootstrap));
            let running = roles::metrics_agg(&settings, &broker)?;
            let stop = Arc::new(AtomicBool::new(false));
            let server = metrics::serve_prometheus(&listen, running.streams.clone(), stop.clone())?;
            eprintln!("metrics-agg: Prometheus endpoint on http://{listen}/metrics");
            wait_for_shutdown_signal(&running.streams);
            stop.store(true, Ordering::Relaxed);
            let _ = server.join();
            running.stop();
        }
        Command::Demo {
            bootstrap,
            records,
            customers,
            partitions,
            seed,
            peak,
        } => {
            let summary = demo::run(DemoConfig {
                bootstrap,
                generator: GeneratorConfig {
                    seed,
                    records,
                    customers,
                    peak,
                    ..Default::default()
                },
                partitions,
                ..Default::default()
            })?;
            demo::print(&summary);
            if !summary.reconciles() {
                return Err("records in != valid + dead-lettered".into());
            }
        }
    }
    Ok(())
}

/// Runs a role until SIGINT or SIGTERM, then stops it cleanly (final commit).
fn run_role(
    connect: &Connect,
    start: impl FnOnce(&RoleSettings, &TestBroker) -> kstreams::Result<roles::Running>,
) -> Result<(), Box<dyn std::error::Error>> {
    let broker = TestBroker::connect(Some(&connect.bootstrap));
    let running = start(&connect.settings(), &broker)?;
    eprintln!("{} started", running.name);
    wait_for_shutdown_signal(&running.streams);
    let failed = running.streams.state() == kstreams::runtime::kafka::State::Error;
    let name = running.name.clone();
    running.stop();
    if failed {
        return Err(format!("{name} stopped after an error").into());
    }
    eprintln!("{name} stopped");
    Ok(())
}
