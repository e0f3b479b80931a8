//! Starting any role of the platform as a kstreams application: the same code runs each
//! role as its own process (`records ingest`, `records detector velocity`, ...) and all of
//! them in one process (`records demo`).

use crate::detectors::{self, Detector};
use crate::ingest::{self, IngestCounters};
use crate::metrics::{self, counter, Counter};
use crate::notify::{self, NotifyConfig, NotifyCounters};
use crate::topics::{self, TopicError};
use kstreams::processor::LogAndContinue;
use kstreams::runtime::kafka::Admin;
use kstreams::runtime::kafka::{KafkaStreams, StreamThreadExceptionResponse, StreamsConfig};
use kstreams::Topology;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

/// How every role connects and commits.
#[derive(Debug, Clone)]
pub struct RoleSettings {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// State directory of this process.
    pub state_dir: PathBuf,
    /// Commit interval.
    pub commit: Duration,
    /// Whether internal topics must be created by hand, through the admin client the roles
    /// are given (the embedded cluster, which has no CreateTopics).
    pub create_internal_topics: bool,
    /// Partitions of every topic.
    pub partitions: u32,
    /// Instance name, for metrics.
    pub instance: String,
    /// Where each role serves its HTTP endpoints (kstreams' `/health`, `/metrics`,
    /// `/state`, ...), and so publishes its status for the dashboard; `None` serves
    /// nothing. Port 0 picks one per role.
    pub http: Option<String>,
    /// Stream threads of each role.
    pub threads: usize,
}

/// Why a role did not start.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// Its internal topics could not be created.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// Its topology could not be built, or its client did not start.
    #[error(transparent)]
    Streams(#[from] kstreams::StreamsError),
}

/// A running role.
pub struct Running {
    /// The role's name (also its metrics prefix).
    pub name: String,
    /// Its kstreams client.
    pub streams: Arc<KafkaStreams>,
    /// Its counters, as reported to `metrics`.
    pub counters: Vec<Counter>,
    stop: Arc<AtomicBool>,
    reporter: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// The counter called `name`.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| c())
    }

    /// Stops the role: a final commit, a last metrics report.
    pub fn stop(mut self) {
        self.streams.close();
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = self.reporter.take() {
            let _ = r.join();
        }
    }
}

/// Starts a role from its topology and counters.
fn start(
    s: &RoleSettings,
    admin: &Admin,
    name: &str,
    application_id: &str,
    topology: Topology,
    mut counters: Vec<Counter>,
    max_task_idle: Duration,
) -> Result<Running, RoleError> {
    if s.create_internal_topics {
        topics::create_internal(
            admin,
            &topology,
            application_id,
            s.partitions,
            s.http.is_some(),
        )?;
    }
    let mut config = StreamsConfig::new(application_id, &s.bootstrap)
        .commit_interval(s.commit)
        .num_stream_threads(s.threads)
        .state_dir(s.state_dir.join(name))
        // Bad input is dead-lettered by ingest; downstream topics are written by us, and a
        // record that still fails to read is skipped and counted, never a stop.
        .deserialization_handler(LogAndContinue)
        // A fetch returns after 10 ms or once 64 KiB wait, not at the first record: with
        // librdkafka's fetch.min.bytes of 1, every consumer fetched again for each few
        // records, and at 2,900 records/s the broker's request handling took 85% of a
        // core. Measured (README, "Latency"): CPU of broker and roles 182% -> 113-120% of
        // the two cores, ingest p99 at 2,900 records/s 194-881 ms -> 36-66 ms. A 20 ms
        // wait added 10-20 ms more to the p50 at 870 records/s for no clear gain.
        .consumer_config("fetch.wait.max.ms", "10")
        .consumer_config("fetch.min.bytes", "65536")
        .producer_config("compression.type", topics::COMPRESSION)
        .max_task_idle(max_task_idle);
    if let Some(addr) = &s.http {
        config = config.http_listener(addr);
    }
    let streams = Arc::new(KafkaStreams::new(topology, config));
    // A failed stream thread is replaced, and its tasks resume from their last commit (at
    // least once), rather than the role stopping: the failures a running role meets are
    // the broker's (a commit's producer flush timed out while the broker stalled and
    // fenced itself, in a 25M run on Apache Kafka), and they pass. A failure that comes
    // back every time stops the role after kstreams' bound on replacements.
    streams.set_uncaught_exception_handler(|_| StreamThreadExceptionResponse::ReplaceThread);
    streams.start()?;
    let st = streams.clone();
    counters.push(("processed".to_string(), Arc::new(move || st.processed())));
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = metrics::spawn_reporter(
        &s.bootstrap,
        format!("{}-{name}", s.instance),
        counters
            .iter()
            .map(|(n, c)| (format!("{name}_{n}"), c.clone()))
            .collect(),
        Duration::from_secs(1),
        stop.clone(),
    )
    .ok();
    Ok(Running {
        name: name.to_string(),
        streams,
        counters,
        stop,
        reporter,
    })
}

/// Ingest's application id, so its consumer group.
pub const INGEST_APPLICATION_ID: &str = "records-ingest";

/// Starts `ingest`.
pub fn ingest(s: &RoleSettings, admin: &Admin) -> Result<Running, RoleError> {
    let c = Arc::new(IngestCounters::default());
    let counters = vec![
        counter("read", &c.read),
        counter("valid", &c.valid),
        counter("dead_lettered", &c.dead_lettered),
    ];
    start(
        s,
        admin,
        "ingest",
        INGEST_APPLICATION_ID,
        ingest::topology(c)?,
        counters,
        // Records and customer profiles are joined in time order. With 0, as in Kafka
        // Streams, a record still waits for profiles that are on the broker but not
        // fetched yet (the partition's end offset is ahead of its position); a larger
        // value would also hold every record that long whenever the customers partition
        // is caught up, which is most of the time: at 1 s it made ingest's latency p50
        // 580 ms, p99 3 s at 870 records/s (records bench --rate 870).
        Duration::ZERO,
    )
    .inspect(|running| {
        // A customer's profile, by id, at /stores/customers-store/{id} when serving HTTP.
        running
            .streams
            .expose_store::<String, crate::model::Customer>(ingest::CUSTOMERS_STORE);
    })
}

/// Starts one detector.
pub fn detector(s: &RoleSettings, admin: &Admin, d: &dyn Detector) -> Result<Running, RoleError> {
    let alerts = Arc::new(AtomicU64::new(0));
    let topology = detectors::topology(d, alerts.clone())?;
    start(
        s,
        admin,
        &format!("detector_{}", d.name().replace('-', "_")),
        &detectors::application_id(d),
        topology,
        vec![counter("alerts", &alerts)],
        Duration::ZERO,
    )
}

/// Starts detector `d` as application `application_id`, its alerts going to `output`:
/// a new application reads the enriched records from the earliest offset, so it replays
/// the history, then follows the live stream.
pub fn detector_as(
    s: &RoleSettings,
    admin: &Admin,
    d: &dyn Detector,
    application_id: &str,
    output: &str,
) -> Result<Running, RoleError> {
    let alerts = Arc::new(AtomicU64::new(0));
    let topology = detectors::topology_to(d, output, alerts.clone())?;
    start(
        s,
        admin,
        &format!("replay_{}", d.name().replace('-', "_")),
        application_id,
        topology,
        vec![counter("alerts", &alerts)],
        Duration::ZERO,
    )
}

/// Starts `notify`. `extra` are the counters of what runs alongside it (the webhook
/// deliverer's), reported with notify's own.
pub fn notify(
    s: &RoleSettings,
    admin: &Admin,
    cfg: NotifyConfig,
    extra: Vec<Counter>,
) -> Result<Running, RoleError> {
    let c = Arc::new(NotifyCounters::default());
    let mut counters = vec![
        counter("alerts", &c.alerts),
        counter("notified", &c.notified),
        counter("deduplicated", &c.deduplicated),
        counter("rate_limited", &c.rate_limited),
    ];
    counters.extend(extra);
    start(
        s,
        admin,
        "notify",
        "records-notify",
        notify::topology(cfg, c)?,
        counters,
        Duration::ZERO,
    )
}

/// Starts `metrics-agg`.
pub fn metrics_agg(s: &RoleSettings, admin: &Admin) -> Result<Running, RoleError> {
    start(
        s,
        admin,
        "metrics_agg",
        "records-metrics-agg",
        metrics::topology()?,
        vec![],
        Duration::ZERO,
    )
}
