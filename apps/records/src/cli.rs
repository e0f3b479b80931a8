//! The command line of `records`, parsed with clap. `records demo` runs everything in one
//! process; every role can also run as its own process against one broker.

use crate::roles::RoleSettings;
use crate::webhook::{self, Webhook, WebhookConfig, WebhookError};
use clap::{Parser, Subcommand};
use std::time::Duration;

/// The command line of `records`.
#[derive(Parser, Debug)]
#[command(
    name = "records",
    about = "Real-time customer-records analysis on kstreams"
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Where a role connects and keeps its state.
#[derive(clap::Args, Clone, Debug)]
pub struct Connect {
    /// Broker (host:port).
    #[arg(long)]
    pub bootstrap: String,
    /// State directory of this process.
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
    /// Commit interval, ms.
    #[arg(long, default_value_t = 1000)]
    pub commit_ms: u64,
    /// Partitions of the platform's topics (for internal topics on brokers without
    /// CreateTopics).
    #[arg(long, default_value_t = 8)]
    pub partitions: u32,
    /// Instance name, for metrics.
    #[arg(long, default_value = "instance")]
    pub instance: String,
    /// Serve the role's HTTP endpoints (health, Prometheus metrics, state, topology,
    /// queries, logs) here, and publish its status for `records dashboard` (host:port;
    /// port 0 picks one).
    #[arg(long)]
    pub http: Option<String>,
    /// Stream threads of the role (Kafka Streams' `num.stream.threads`): its tasks are
    /// spread over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
}

impl Connect {
    /// The settings of a role started with these options.
    pub fn settings(&self) -> RoleSettings {
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
            http: self.http.clone(),
            threads: usize::from(self.threads),
        }
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
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
        /// Send at this many records per second (0: as fast as the broker takes them) and
        /// report the latency from a record's creation to its notification.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Hot deployment at a fixed rate, every role its own process against --bootstrap: adds
    /// the fifth detector, rolling-restarts velocity's two instances, stops and starts
    /// new-country-device, and prints the untouched roles' throughput and latency in every
    /// phase and every detector's reconciliation with the ground truth.
    HotDeploy {
        /// Broker (host:port).
        #[arg(long)]
        bootstrap: String,
        /// Records per second (the talk's seasonal peak is about 870).
        #[arg(long, default_value_t = 870)]
        rate: u64,
        /// Length of each of the six phases (warm-up, before, add, rolling, stop-start,
        /// after), s.
        #[arg(long, default_value_t = 60)]
        phase_secs: u64,
        /// Customers.
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
        /// Partitions of every topic.
        #[arg(long, default_value_t = 8)]
        partitions: u32,
        /// Commit interval of every role, ms.
        #[arg(long, default_value_t = 1000)]
        commit_ms: u64,
        /// Serve the records dashboard here during the run: every role process then
        /// serves HTTP on a free port and publishes its status.
        #[arg(long)]
        dashboard: Option<String>,
    },
    /// A new detector on the history: runs detector NAME as a new application that reads
    /// `records-enriched` from the earliest offset, catches up, then follows the live
    /// stream; its alerts go to `alerts-replay`. Prints the catch-up rate.
    Replay {
        /// The detector's name.
        name: String,
        #[command(flatten)]
        connect: Connect,
        /// Measure the catch-up over the first N records of history only (default: all).
        #[arg(long)]
        records: Option<u64>,
        /// Follow the live stream this long after catching up, s.
        #[arg(long, default_value_t = 0)]
        follow_secs: u64,
    },
    /// Runs one detector offline, in the test driver, over generated and enriched records;
    /// writes them to DIR/enriched.jsonl and the detector's alerts to DIR/alerts.jsonl (the
    /// reference a detector written in Python is checked against).
    Offline {
        /// The detector's name.
        #[arg(long)]
        detector: String,
        /// Where to write the two files.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Records to generate.
        #[arg(long, default_value_t = 60_000)]
        records: u64,
        /// Customers.
        #[arg(long, default_value_t = 15_000)]
        customers: usize,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Per record, the chance it starts an anomaly of each kind.
        #[arg(long, default_value_t = 0.0007)]
        anomaly: f64,
        /// Per record, the chance it starts a benign look-alike of each kind.
        #[arg(long, default_value_t = 0.0017)]
        lookalike: f64,
        /// Partitions of the driver's topics.
        #[arg(long, default_value_t = 2)]
        partitions: u32,
    },
    /// Validates, dead-letters and enriches records.
    Ingest {
        #[command(flatten)]
        connect: Connect,
    },
    /// Runs one detector (amount-spike, velocity, new-country-device, dormant), or one
    /// written in Python with --python.
    Detector {
        /// The detector's name.
        #[arg(required_unless_present = "python", conflicts_with = "python")]
        name: Option<String>,
        /// A detector written in Python (`apps/records/python/velocity.py` is one): runs
        /// `$RECORDS_PYTHON` (default `python3`) on it with --bootstrap, --state-dir and
        /// --commit-ms, in place of this process.
        #[arg(long)]
        python: Option<std::path::PathBuf>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Turns alerts into notifications; with --webhook, also delivers each notification by
    /// HTTP POST.
    Notify {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        webhook: WebhookArgs,
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
        /// Send at this many records per second of wall-clock time (0: as fast as the
        /// pipeline takes them). The talk's seasonal peak is about 870, 10x the average
        /// about 2,900.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Serve the records dashboard here while the demo runs (every role then serves
        /// its own endpoints on a free port and publishes its status).
        #[arg(long)]
        http: Option<String>,
    },
    /// Serves the records dashboard: every role's instances, throughput, lag, alerts, CPU
    /// and memory, read from their applications' status topics (start the roles with
    /// `--http`).
    Dashboard {
        /// Broker (host:port).
        #[arg(long)]
        bootstrap: String,
        /// Where to serve it.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

/// The webhook options of `records notify`.
#[derive(clap::Args, Clone, Debug)]
pub struct WebhookArgs {
    /// Also deliver every notification by HTTP POST (JSON, with an `Idempotency-Key`
    /// header) to this http:// or https:// URL, at least once.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// A header for every webhook request, `Name: value`; repeatable. One with a CR or LF
    /// is refused.
    #[arg(
        long = "webhook-header",
        value_name = "NAME: VALUE",
        requires = "webhook"
    )]
    pub webhook_headers: Vec<String>,
    /// Webhook connect timeout, ms.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub webhook_connect_timeout_ms: u64,
    /// Webhook timeout of a whole request (connecting, sending, reading the answer), ms.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Attempts at a notification the endpoint refuses with 4xx (other than 408 and 429)
    /// before it is logged, counted as rejected and skipped.
    #[arg(long, value_name = "N", default_value_t = webhook::DEFAULT_CLIENT_ERROR_ATTEMPTS)]
    pub webhook_attempts_4xx: u32,
}

impl WebhookArgs {
    /// The webhook these options describe, checked (URL, headers, settings); `None`
    /// without `--webhook`.
    pub fn webhook(&self) -> Result<Option<Webhook>, WebhookError> {
        let Some(url) = &self.webhook else {
            return Ok(None);
        };
        let mut config = WebhookConfig::new(url.clone());
        config.headers = self
            .webhook_headers
            .iter()
            .map(|h| webhook::parse_header(h))
            .collect::<Result<_, _>>()?;
        config.connect_timeout = Duration::from_millis(self.webhook_connect_timeout_ms);
        config.timeout = Duration::from_millis(self.webhook_timeout_ms);
        config.client_error_attempts = self.webhook_attempts_4xx;
        Webhook::new(config).map(Some)
    }
}
