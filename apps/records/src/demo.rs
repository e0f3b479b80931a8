//! `records demo`: the whole platform in one process, on the embedded broker by default.
//!
//! Creates the topics, publishes the customers, starts ingest, every detector, notify and
//! metrics-agg (each its own kstreams application, as in production), streams generated
//! records through them, and prints a summary: records in, valid and dead-lettered (which
//! must add up), alerts per detector with precision and recall against the injected
//! anomalies, notifications, throughput, and latency from a record's send time to its
//! notification.

use crate::detectors;
use crate::generate::{Generator, GeneratorConfig};
use crate::model::{Alert, Customer, Notification, Truth};
use crate::notify::NotifyConfig;
use crate::publish::now_ms;
use crate::publish::{self, send};
use crate::roles::{self, RoleSettings, Running};
use crate::score::{self, DetectorScore};
use crate::topics::{self, Cluster};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// A broker to use; `None` starts the embedded one.
    pub bootstrap: Option<String>,
    /// The generator's settings.
    pub generator: GeneratorConfig,
    /// Partitions of every topic.
    pub partitions: u32,
    /// Print a progress bar.
    pub progress: bool,
    /// How far the slowest application may fall behind the generator, records.
    pub max_lag: u64,
    /// Records per second of wall-clock time to send at, or 0 for as fast as the pipeline
    /// takes them (then the latency measures queueing in a flood, not the pipeline).
    pub rate: u64,
    /// Serve the records dashboard here while the demo runs; every role then serves its
    /// own HTTP endpoints on a free port and publishes its status.
    pub http: Option<String>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            bootstrap: None,
            generator: GeneratorConfig::default(),
            partitions: 8,
            progress: true,
            max_lag: 40_000,
            rate: 0,
            http: None,
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Records sent to `customer-records`.
    pub records_in: u64,
    /// Written to `records-enriched`.
    pub valid: u64,
    /// Written to `records-dlq`.
    pub dead_lettered: u64,
    /// Invalid records the generator injected.
    pub injected_invalid: u64,
    /// Per detector.
    pub detectors: Vec<DetectorScore>,
    /// Notifications read back.
    pub notifications: u64,
    /// Alerts folded into earlier notifications, and held back by the rate limit.
    pub deduplicated: u64,
    /// Held back by the rate limit.
    pub rate_limited: u64,
    /// Seconds from the first record sent to the last one processed everywhere.
    pub seconds: f64,
    /// Latency from a record's creation (its `sent_ms`, stamped as it is sent) to the
    /// notification it caused being read back, ms: p50, p99, max.
    pub latency_ms: (f64, f64, f64),
    /// The sending rate asked for (0: as fast as possible).
    pub rate: u64,
    /// Metric totals from `metrics-agg`, by name.
    pub metrics: Vec<(String, f64)>,
}

impl Summary {
    /// Whether in = valid + dead-lettered.
    pub fn reconciles(&self) -> bool {
        self.records_in == self.valid + self.dead_lettered
    }
}

/// The `q` quantile of sorted values (nearest rank); NaN when there are none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Reads a topic from the beginning on a thread, handing each value to `f`.
fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: u32,
    stop: Arc<AtomicBool>,
    mut f: impl FnMut(&[u8]) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let consumer: Option<BaseConsumer> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", topics::unique("records-demo-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .create()
        .ok();
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let Some(consumer) = consumer else { return };
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            let _ = tpl.add_partition_offset(&topic, p, Offset::Beginning);
        }
        if consumer.assign(&tpl).is_err() {
            return;
        }
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                if let Some(v) = m.payload() {
                    f(v);
                }
            }
        }
    })
}

/// Runs the demo.
pub fn run(cfg: DemoConfig) -> Result<Summary, Box<dyn std::error::Error>> {
    let cluster = Cluster::start(cfg.bootstrap.as_deref())?;
    let admin = cluster.admin();
    let run_id = topics::unique("demo");
    let state_dir = std::env::temp_dir().join(format!("records-{run_id}"));
    topics::create_all(admin, cfg.partitions)?;
    let settings = RoleSettings {
        bootstrap: cluster.bootstrap().to_string(),
        state_dir: state_dir.clone(),
        commit: Duration::from_millis(500),
        create_internal_topics: cluster.is_embedded(),
        partitions: cfg.partitions,
        instance: "demo".into(),
        http: cfg.http.as_ref().map(|_| "127.0.0.1:0".to_string()),
        threads: 1,
    };
    let producer = publish::producer(cluster.bootstrap())?;
    let mut generator = Generator::new(cfg.generator.clone());
    let customers: Vec<Customer> = generator.customers().to_vec();
    for c in &customers {
        send(
            &producer,
            topics::CUSTOMERS,
            Some(&c.id),
            serde_json::to_vec(c).ok().as_deref(),
        );
    }
    producer.flush(Duration::from_secs(60))?;

    let ingest = roles::ingest(&settings, admin)?;
    let detectors: Vec<Running> = detectors::all()
        .iter()
        .map(|d| roles::detector(&settings, admin, d.as_ref()))
        .collect::<Result<_, _>>()?;
    let notify = roles::notify(&settings, admin, NotifyConfig::default(), Vec::new())?;
    let metrics = roles::metrics_agg(&settings, admin)?;
    let _dashboard = match &cfg.http {
        Some(listen) => {
            let d = crate::dashboard::Dashboard::serve(cluster.bootstrap(), listen)?;
            eprintln!("records dashboard on http://{}/", d.local_addr());
            Some(d)
        }
        None => None,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let readers = vec![
        {
            let a = alerts.clone();
            read_topic(
                cluster.bootstrap(),
                topics::ALERTS,
                cfg.partitions,
                stop.clone(),
                move |v| {
                    if let Ok(alert) = serde_json::from_slice::<Alert>(v) {
                        a.lock().unwrap_or_else(|p| p.into_inner()).push(alert);
                    }
                },
            )
        },
        {
            let l = latencies.clone();
            read_topic(
                cluster.bootstrap(),
                topics::NOTIFICATIONS,
                cfg.partitions,
                stop.clone(),
                move |v| {
                    if let Ok(n) = serde_json::from_slice::<Notification>(v) {
                        l.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((now_ms() - n.sent_ms) as f64);
                    }
                },
            )
        },
    ];

    // The customer table is in place before the first record: ingest has read every
    // profile (it counts them among its processed records).
    let deadline = Instant::now() + Duration::from_secs(120);
    while ingest.streams.processed() < customers.len() as u64 {
        if Instant::now() > deadline {
            return Err("ingest did not load the customers within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let base_ingest = ingest.streams.processed();

    let total = cfg.generator.records;
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let slowest = |detectors: &[Running]| -> u64 {
        detectors
            .iter()
            .map(|d| d.streams.processed())
            .min()
            .unwrap_or(0)
    };
    loop {
        if cfg.rate > 0 {
            // Paced on the schedule, not on the previous send, so a slow send is caught
            // up instead of lowering the rate; before the record is made, so that its
            // creation time is when it is sent.
            let due = Duration::from_secs_f64(generator.emitted() as f64 / cfg.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let Some(g) = generator.next(now_ms()) else {
            break;
        };
        send(
            &producer,
            topics::RECORDS,
            g.key.as_deref(),
            g.value.as_deref(),
        );
        let sent = generator.emitted();
        if sent % 1000 == 0 {
            producer.poll(Duration::ZERO);
            // Keep every application close behind: the embedded broker keeps only the
            // newest few MiB of each partition.
            while sent.saturating_sub(ingest.streams.processed() - base_ingest) > cfg.max_lag
                || sent.saturating_sub(slowest(&detectors)) > cfg.max_lag
            {
                producer.poll(Duration::from_millis(5));
            }
        }
        if cfg.progress && last_progress.elapsed() > Duration::from_millis(250) {
            progress(sent, total, &ingest, &notify);
            last_progress = Instant::now();
        }
    }
    producer.flush(Duration::from_secs(60))?;
    for t in generator.truth() {
        send(
            &producer,
            topics::TRUTH,
            Some(&t.customer_id),
            serde_json::to_vec(t).ok().as_deref(),
        );
    }
    producer.flush(Duration::from_secs(60))?;

    // Wait until every record went through every stage.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let valid = ingest.counter("valid");
        let done_ingest =
            ingest.counter("read") == total && valid + ingest.counter("dead_lettered") == total;
        let done_detectors = detectors.iter().all(|d| d.streams.processed() >= valid);
        let alerted: u64 = detectors.iter().map(|d| d.counter("alerts")).sum();
        let done_notify = notify.counter("alerts") >= alerted;
        let seen = alerts.lock().unwrap_or_else(|p| p.into_inner()).len() as u64 >= alerted;
        let notified = latencies.lock().unwrap_or_else(|p| p.into_inner()).len() as u64
            >= notify.counter("notified");
        if done_ingest && done_detectors && done_notify && seen && notified {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("\nwarning: not everything was processed within 120 s");
            break;
        }
        if cfg.progress {
            progress(total, total, &ingest, &notify);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = started.elapsed().as_secs_f64();
    if cfg.progress {
        progress(total, total, &ingest, &notify);
        eprintln!();
    }
    // Metrics: the last reports reach metrics-agg after a stop; read the totals now.
    std::thread::sleep(Duration::from_millis(1500));
    let metric_totals = metrics
        .streams
        .store::<String, f64>(crate::metrics::TOTALS)
        .and_then(|s| s.all().ok())
        .unwrap_or_default();

    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }
    let alerts = std::mem::take(&mut *alerts.lock().unwrap_or_else(|p| p.into_inner()));
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_by(f64::total_cmp);
    let names: Vec<&str> = detectors::all().iter().map(|d| d.name()).collect();
    let truth: Vec<Truth> = generator.truth().to_vec();
    let summary = Summary {
        records_in: total,
        valid: ingest.counter("valid"),
        dead_lettered: ingest.counter("dead_lettered"),
        injected_invalid: generator.invalid_total(),
        detectors: score::score(&names, &truth, &alerts),
        notifications: lat.len() as u64,
        deduplicated: notify.counter("deduplicated"),
        rate_limited: notify.counter("rate_limited"),
        seconds,
        latency_ms: (
            quantile(&lat, 0.5),
            quantile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
        ),
        rate: cfg.rate,
        metrics: metric_totals,
    };
    ingest.stop();
    for d in detectors {
        d.stop();
    }
    notify.stop();
    metrics.stop();
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(summary)
}

fn progress(sent: u64, total: u64, ingest: &Running, notify: &Running) {
    let width = 30;
    let done = (sent * width / total.max(1)) as usize;
    eprint!(
        "\r[{}{}] {sent}/{total} sent, {} ingested, {} dead-lettered, {} alerts, {} notified   ",
        "#".repeat(done),
        "-".repeat(width as usize - done),
        ingest.counter("read"),
        ingest.counter("dead_lettered"),
        notify.counter("alerts"),
        notify.counter("notified"),
    );
    let _ = std::io::stderr().flush();
}

/// Prints the summary.
pub fn print(s: &Summary) {
    println!();
    println!("records in        {:>10}", s.records_in);
    println!(
        "valid             {:>10}\ndead-lettered     {:>10}  (injected invalid: {})",
        s.valid, s.dead_lettered, s.injected_invalid
    );
    println!(
        "reconciled        {:>10}",
        if s.reconciles() { "yes" } else { "NO" }
    );
    println!();
    println!(
        "| detector | injected | found | recall | alerts | precision | false on look-alikes | other false |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for d in &s.detectors {
        let by_kind: Vec<String> = d
            .lookalikes
            .iter()
            .filter(|(_, h)| h.alerts > 0)
            .map(|(k, h)| format!("{k} {}", h.alerts))
            .collect();
        println!(
            "| {} | {} | {} | {:.3} | {} | {:.3} | {}{} | {} |",
            d.detector,
            d.injected,
            d.found,
            d.recall(),
            d.alerts,
            d.precision(),
            d.false_on_lookalikes(),
            if by_kind.is_empty() {
                String::new()
            } else {
                format!(" ({})", by_kind.join(", "))
            },
            d.other_false.len()
        );
    }
    // Look-alikes flagged: of each kind, how many episodes each detector alerted on.
    if let Some(first) = s.detectors.first().filter(|d| !d.lookalikes.is_empty()) {
        println!();
        println!("benign look-alikes flagged (episodes with at least one alert) by detector:");
        let names: Vec<&str> = s.detectors.iter().map(|d| d.detector.as_str()).collect();
        println!("| look-alike | episodes | {} |", names.join(" | "));
        println!("|---|---|{}", "---|".repeat(names.len()));
        for (kind, h) in &first.lookalikes {
            let cells: Vec<String> = s
                .detectors
                .iter()
                .map(|d| d.lookalikes.get(kind).map_or(0, |h| h.flagged).to_string())
                .collect();
            println!("| {kind} | {} | {} |", h.episodes, cells.join(" | "));
        }
    }
    for d in &s.detectors {
        if !d.missed.is_empty() {
            println!(
                "{} missed the anomalies of customers {:?}",
                d.detector, d.missed
            );
        }
        if !d.other_false.is_empty() {
            println!(
                "{} raised {} false alerts on no look-alike (plain traffic or another kind's anomaly), first: {:?}",
                d.detector,
                d.other_false.len(),
                &d.other_false[..d.other_false.len().min(5)]
            );
        }
    }
    println!();
    println!(
        "notifications {} (alerts folded into an earlier one: {}, held back by the rate limit: {})",
        s.notifications, s.deduplicated, s.rate_limited
    );
    println!(
        "throughput {:.0} records/s over {:.1} s{}; latency creation -> notification p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} notifications)",
        s.records_in as f64 / s.seconds,
        s.seconds,
        if s.rate > 0 {
            format!(" (sent at {} records/s)", s.rate)
        } else {
            " (sent as fast as the pipeline takes them)".to_string()
        },
        s.latency_ms.0,
        s.latency_ms.1,
        s.latency_ms.2,
        s.notifications
    );
    if !s.metrics.is_empty() {
        println!();
        println!("metrics-agg totals:");
        for (k, v) in &s.metrics {
            println!("  {k} = {v}");
        }
    }
}
