//! `records hot-deploy`: the platform changes while it runs, and the roles nobody touched
//! do not notice.
//!
//! Every role runs as its own process (velocity as two instances of one application)
//! while the generator sends at a fixed rate. The run has six phases of equal length:
//!
//! 0. **warm-up**: the roles start, join their groups and settle (reported, not compared);
//! 1. **before**: the platform as deployed, with four of the five detectors;
//! 2. **add**: the fifth detector (`card-testing`) starts, reads the history from the
//!    earliest offset, catches up and follows the live stream;
//! 3. **rolling**: velocity's two instances are restarted one after the other (SIGTERM,
//!    start again, then the other), so velocity never stops as a whole;
//! 4. **stop-start**: `new-country-device` stops for half a phase and comes back, catching
//!    up from its committed offsets;
//! 5. **after**.
//!
//! For every phase it prints the throughput of the untouched roles (ingest, amount-spike,
//! dormant, notify) and the latency from a record's creation to ingest's output, to the
//! untouched detectors' alerts and to their notifications. At the end every detector,
//! touched or not, is reconciled with the ground truth: anomalies missed, and alerts raised
//! twice (at-least-once replays after a restart: the same detector, record and window),
//! counted; an anomaly missed makes the command fail.
//!
//! Run it on a fresh cluster: the generator's event time starts on the same day in every
//! run, so a second run's records are late for the windows a first run left behind, and
//! velocity rightly drops them.

use crate::bench::{customers_loaded, latency_reader, Reads};
use crate::demo::quantile;
use crate::detectors;
use crate::generate::{kinds, GeneratorConfig};
use crate::model::{Alert, Truth};
use crate::procs::{await_caught_up, watermarks, Launcher, Proc};
use crate::publish::now_ms;
use crate::score;
use crate::topics::{self, TopicError};
use kstreams::runtime::kafka::Admin;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What `records hot-deploy` runs.
#[derive(Debug, Clone)]
pub struct HotDeployConfig {
    /// Broker (host:port).
    pub bootstrap: String,
    /// Partitions of every topic.
    pub partitions: u32,
    /// Commit interval of every role, ms.
    pub commit_ms: u64,
    /// Records per second the generator sends.
    pub rate: u64,
    /// Length of each of the six phases.
    pub phase: Duration,
    /// Customers.
    pub customers: usize,
    /// Serve the records dashboard here during the run (every role then serves HTTP on
    /// a free port and publishes its status).
    pub dashboard: Option<String>,
}

/// The phases, in order.
const PHASES: [&str; 6] = [
    "warm-up",
    "before",
    "add card-testing",
    "rolling restart of velocity",
    "stop and start new-country-device",
    "after",
];

/// The detector added while the platform runs.
const ADDED: &str = kinds::CARD_TESTING;
/// The detector that runs as two instances and is restarted one instance at a time.
const ROLLING: &str = kinds::VELOCITY;
/// The detector stopped and started again.
const STOPPED: &str = kinds::NEW_COUNTRY_DEVICE;
/// The roles nobody touches, as their counters name them.
const UNTOUCHED: [&str; 4] = [
    "ingest",
    "detector_amount_spike",
    "detector_dormant",
    "notify",
];

/// One latency sample: when it was read, from which detector (for alerts and
/// notifications), and how long after its record's creation.
struct Sample {
    at_ms: i64,
    detector: Option<String>,
    latency_ms: f64,
}

/// A [`Sample`] of record `value`, read at `at_ms`, `latency_ms` after its creation.
fn sample(value: &[u8], at_ms: i64, latency_ms: f64) -> Sample {
    let detector = serde_json::from_slice::<serde_json::Value>(value)
        .ok()
        .and_then(|j| j.get("detector")?.as_str().map(str::to_string));
    Sample {
        at_ms,
        detector,
        latency_ms,
    }
}

/// Every value of `topic` up to its end as of now, from the beginning.
fn read_all(bootstrap: &str, topic: &str) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", topics::unique("records-hot-deploy-reader"))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for (p, low, high) in watermarks(&consumer, topic)? {
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            ends.insert(p, high);
        }
    }
    consumer.assign(&tpl)?;
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(format!("reading {topic}: not at its end within 300 s").into());
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        if let Some(v) = m.payload() {
            values.push(v.to_vec());
        }
        if ends
            .get(&m.partition())
            .is_some_and(|end| m.offset() + 1 >= *end)
        {
            ends.remove(&m.partition());
        }
    }
    Ok(values)
}

/// A counter's value as a role reported it: when it was read, the metric, the value.
type CounterSample = (i64, String, f64);

/// The untouched roles' `processed` counters, sampled as the roles report them.
fn counter_sampler(
    bootstrap: &str,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<Vec<CounterSample>>, Box<dyn std::error::Error>> {
    let metrics: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", topics::unique("records-hot-deploy"))
        .set("auto.offset.reset", "latest")
        .create()?;
    metrics.subscribe(&[topics::METRICS])?;
    let wanted: Vec<String> = UNTOUCHED.iter().map(|r| format!("{r}_processed")).collect();
    Ok(std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let Some(Ok(m)) = metrics.poll(Duration::from_millis(100)) else {
                continue;
            };
            let (Some(k), Some(v)) = (m.key(), m.payload()) else {
                continue;
            };
            let Ok(b) = <[u8; 8]>::try_from(v) else {
                continue;
            };
            let key = String::from_utf8_lossy(k);
            let metric = key.split_once('|').map_or(&*key, |(_, m)| m);
            if wanted.iter().any(|w| w == metric) {
                samples.push((now_ms(), metric.to_string(), f64::from_be_bytes(b)));
            }
        }
        samples
    }))
}

/// The latest value of `metric` sampled at or before `at_ms`.
fn value_at(samples: &[CounterSample], metric: &str, at_ms: i64) -> Option<f64> {
    samples
        .iter()
        .rev()
        .find(|(t, m, _)| m == metric && *t <= at_ms)
        .map(|(_, _, v)| *v)
}

/// Sleeps until `t0_ms + offset`.
fn sleep_until(t0_ms: i64, offset: Duration) {
    let due = t0_ms + offset.as_millis() as i64;
    let now = now_ms();
    if due > now {
        std::thread::sleep(Duration::from_millis((due - now) as u64));
    }
}

/// Runs the hot deployment and prints its figures.
pub fn run(cfg: HotDeployConfig) -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = cfg.bootstrap.as_str();
    let admin = Admin::new(bootstrap).map_err(TopicError::connect)?;
    topics::create_all(&admin, cfg.partitions)?;
    let mut launcher = Launcher::new(bootstrap, cfg.partitions, cfg.commit_ms)?;
    launcher.http = cfg.dashboard.is_some();
    let _dashboard = match &cfg.dashboard {
        Some(listen) => {
            let d = crate::dashboard::Dashboard::serve(bootstrap, listen)?;
            eprintln!("records dashboard on http://{}/", d.local_addr());
            Some(d)
        }
        None => None,
    };
    let detector = |name: &str, instance: &str| launcher.spawn(&["detector", name], instance);
    let mut procs: BTreeMap<String, Proc> = BTreeMap::new();
    procs.insert("ingest".into(), launcher.spawn(&["ingest"], "ingest")?);
    for d in detectors::all() {
        match d.name() {
            ADDED => {}
            ROLLING => {
                for i in ["a", "b"] {
                    let name = format!("{ROLLING}-{i}");
                    procs.insert(name.clone(), detector(ROLLING, &name)?);
                }
            }
            other => {
                procs.insert(other.into(), detector(other, other)?);
            }
        }
    }
    procs.insert("notify".into(), launcher.spawn(&["notify"], "notify")?);

    let stop = Arc::new(AtomicBool::new(false));
    let since = now_ms();
    let readers = [topics::ENRICHED, topics::ALERTS, topics::NOTIFICATIONS]
        .iter()
        .map(|t| latency_reader(bootstrap, t, Reads::Everything, since, stop.clone(), sample))
        .collect::<Result<Vec<_>, _>>()?;
    let counters = counter_sampler(bootstrap, stop.clone())?;
    let t0 = Arc::new(AtomicI64::new(0));
    let records = cfg.rate * PHASES.len() as u64 * cfg.phase.as_secs();
    let generator = {
        let (b, t0) = (bootstrap.to_string(), t0.clone());
        let gen = GeneratorConfig {
            records,
            customers: cfg.customers,
            ..Default::default()
        };
        let (partitions, rate) = (cfg.partitions, cfg.rate);
        std::thread::spawn(move || {
            let loaded = || {
                customers_loaded(&b)?;
                t0.store(now_ms(), Ordering::SeqCst);
                Ok(())
            };
            crate::publish::run(&b, partitions, gen, rate, &loaded).map_err(|e| e.to_string())
        })
    };
    while t0.load(Ordering::SeqCst) == 0 {
        if generator.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = t0.load(Ordering::SeqCst);
    let mut log = Vec::new();
    let mut note = |what: String| {
        let line = format!("t+{:6.1} s: {what}", (now_ms() - t0) as f64 / 1000.0);
        eprintln!("{line}");
        log.push(line);
    };
    note(format!(
        "generating {records} records at {} records/s, {} s per phase",
        cfg.rate,
        cfg.phase.as_secs()
    ));

    sleep_until(t0, cfg.phase * 2);
    procs.insert(ADDED.into(), detector(ADDED, ADDED)?);
    note(format!(
        "started {ADDED}, a new application reading from the earliest offset"
    ));

    sleep_until(t0, cfg.phase * 3);
    for i in ["a", "b"] {
        let name = format!("{ROLLING}-{i}");
        if let Some(p) = procs.remove(&name) {
            let took = p.stop();
            note(format!(
                "{name} stopped cleanly in {:.1} s",
                took.as_secs_f64()
            ));
        }
        procs.insert(name.clone(), detector(ROLLING, &name)?);
        note(format!("{name} started again"));
        // The other instance goes once this one is back in the group and running.
        std::thread::sleep(cfg.phase / 3);
    }

    sleep_until(t0, cfg.phase * 4);
    if let Some(p) = procs.remove(STOPPED) {
        let took = p.stop();
        note(format!(
            "{STOPPED} stopped cleanly in {:.1} s",
            took.as_secs_f64()
        ));
    }
    std::thread::sleep(cfg.phase / 2);
    procs.insert(STOPPED.into(), detector(STOPPED, STOPPED)?);
    note(format!("{STOPPED} started again"));

    let report = generator.join().map_err(|_| "generator panicked")??;
    note(report);
    // Everything written has gone through every stage once each group has committed it.
    let wait = Duration::from_secs(600);
    await_caught_up(
        bootstrap,
        crate::roles::INGEST_APPLICATION_ID,
        topics::RECORDS,
        wait,
    )?;
    for d in detectors::all() {
        await_caught_up(
            bootstrap,
            &detectors::application_id(d.as_ref()),
            topics::ENRICHED,
            wait,
        )?;
    }
    await_caught_up(bootstrap, "records-notify", topics::ALERTS, wait)?;
    note("every role caught up".into());
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for r in readers {
        samples.push(r.join().map_err(|_| "latency reader panicked")?);
    }
    let counters = counters.join().map_err(|_| "counter sampler panicked")?;
    for p in procs.values_mut() {
        p.sample();
    }

    println!("{}", log.join("\n"));
    print_throughput(&counters, t0, cfg.phase);
    print_latency(&samples, t0, cfg.phase);
    let truth: Vec<Truth> = read_all(bootstrap, topics::TRUTH)?
        .iter()
        .filter_map(|v| serde_json::from_slice(v).ok())
        .collect();
    let alerts: Vec<Alert> = read_all(bootstrap, topics::ALERTS)?
        .iter()
        .filter_map(|v| serde_json::from_slice(v).ok())
        .collect();
    let missed = print_reconciliation(&truth, &alerts);
    // A restarted role's row is its last process only: what the stopped one used is not
    // carried over.
    println!("| process (the one running at the end) | peak RSS MiB | CPU s |");
    println!("|---|---|---|");
    for p in procs.values() {
        println!(
            "| {} | {:.0} | {:.1} |",
            p.name,
            p.peak_mib(),
            p.cpu().as_secs_f64()
        );
    }
    if missed > 0 {
        return Err(format!("{missed} anomalies missed across the deployment").into());
    }
    Ok(())
}

fn phase_of(at_ms: i64, t0: i64, phase: Duration) -> usize {
    (((at_ms - t0).max(0) as u128 / phase.as_millis().max(1)) as usize).min(PHASES.len() - 1)
}

fn print_throughput(samples: &[CounterSample], t0: i64, phase: Duration) {
    println!("\nthroughput of the untouched roles, records/s (from their `processed` counters):");
    println!("| role | {} |", PHASES.join(" | "));
    println!("|---|{}", "---|".repeat(PHASES.len()));
    let p_ms = phase.as_millis() as i64;
    for role in UNTOUCHED {
        let metric = format!("{role}_processed");
        let rates: Vec<String> = (0..PHASES.len() as i64)
            .map(|i| {
                let (from, to) = (t0 + i * p_ms, t0 + (i + 1) * p_ms);
                match (
                    value_at(samples, &metric, from),
                    value_at(samples, &metric, to),
                ) {
                    (Some(a), Some(b)) => format!("{:.0}", (b - a) / phase.as_secs_f64()),
                    _ => "-".into(),
                }
            })
            .collect();
        println!("| {role} | {} |", rates.join(" | "));
    }
}

fn print_latency(samples: &[Vec<Sample>], t0: i64, phase: Duration) {
    let untouched = [kinds::AMOUNT_SPIKE, kinds::DORMANT];
    println!(
        "\nlatency from a record's creation, p50 / p99 / max ms (count), untouched stages only:"
    );
    println!("| output | {} |", PHASES.join(" | "));
    println!("|---|{}", "---|".repeat(PHASES.len()));
    let rows: [(&str, &[Sample], bool); 3] = [
        ("ingest (records-enriched)", &samples[0], false),
        ("amount-spike, dormant (alerts)", &samples[1], true),
        ("their notifications", &samples[2], true),
    ];
    for (label, samples, by_detector) in rows {
        let cells: Vec<String> = (0..PHASES.len())
            .map(|i| {
                let mut l: Vec<f64> = samples
                    .iter()
                    .filter(|s| phase_of(s.at_ms, t0, phase) == i)
                    .filter(|s| {
                        !by_detector
                            || s.detector
                                .as_deref()
                                .is_some_and(|d| untouched.contains(&d))
                    })
                    .map(|s| s.latency_ms)
                    .collect();
                l.sort_by(f64::total_cmp);
                format!(
                    "{:.0} / {:.0} / {:.0} ({})",
                    quantile(&l, 0.5),
                    quantile(&l, 0.99),
                    l.last().copied().unwrap_or(f64::NAN),
                    l.len()
                )
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}

/// Prints every detector's reconciliation; returns the anomalies missed, all detectors
/// together.
fn print_reconciliation(truth: &[Truth], alerts: &[Alert]) -> usize {
    let names: Vec<&str> = detectors::all().iter().map(|d| d.name()).collect();
    // One alert per detector, record and window: a second is a replay.
    let mut seen: HashMap<(&str, &str, Option<i64>), usize> = HashMap::new();
    for a in alerts {
        *seen
            .entry((&a.detector, &a.record_id, a.window_start))
            .or_default() += 1;
    }
    println!("\nreconciliation with the ground truth, every detector:");
    println!("| detector | anomalies | found | missed | alerts | raised twice or more |");
    println!("|---|---|---|---|---|---|");
    let mut missed = 0;
    for s in score::score(&names, truth, alerts) {
        missed += s.missed.len();
        let twice: usize = seen
            .iter()
            .filter(|((d, _, _), n)| *d == s.detector && **n > 1)
            .map(|(_, n)| n - 1)
            .sum();
        println!(
            "| {} | {} | {} | {} | {} | {twice} |",
            s.detector,
            s.injected,
            s.found,
            s.missed.len(),
            s.alerts
        );
    }
    missed
}
