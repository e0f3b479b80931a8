//! `records bench`: the platform at volume, each role its own process against one broker.
//!
//! Starts ingest, every detector and notify as child processes, generates `records`
//! records as fast as the broker takes them (or at `--rate` records per second), and
//! measures the wall time until every record has gone through ingest, every detector and
//! notify (from the counters the roles report to `metrics`), the throughput, each
//! process's peak resident memory, and the latency from a record's creation to the
//! notification it caused.

use crate::demo::quantile;
use crate::detectors;
use crate::generate::GeneratorConfig;
use crate::procs::{await_caught_up, cpu_of, Launcher};
use crate::publish::now_ms;
use crate::topics::{self, TopicError};
use kstreams::runtime::kafka::Admin;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The creation time a pipeline topic's value carries: at the top level (alerts,
/// notifications) or in its `record` (enriched records). Only these fields are decoded,
/// the rest skipped: the reader of `records-enriched` sees every record of a run at a
/// fixed rate (one partition's of a flood, see [`Reads`]), and decoding each whole into a
/// `serde_json::Value` (a map per object, a string per field) could take CPU from the
/// roles it measures, on the same two cores.
#[derive(Deserialize)]
struct Created {
    sent_ms: Option<i64>,
    record: Option<CreatedRecord>,
}

/// The `record` of an enriched record, for [`Created`].
#[derive(Deserialize)]
struct CreatedRecord {
    sent_ms: Option<i64>,
}

/// The creation time (`sent_ms`) a record of a pipeline topic carries; see [`Created`].
fn sent_ms(value: &[u8]) -> Option<i64> {
    let c: Created = serde_json::from_slice(value).ok()?;
    c.sent_ms.or_else(|| c.record.and_then(|r| r.sent_ms))
}

/// Which of a topic's records a [`latency_reader`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// Every partition, through a consumer group of its own.
    Everything,
    /// One partition only, assigned directly: a sample. A flood sends every record of
    /// the run to `records-enriched`, and reading all of them back (25M on the 25M run)
    /// would take CPU from the roles measured, on the same two cores, for a latency that
    /// a flood's backlog decides anyway.
    Partition(i32),
}

impl Reads {
    /// How a stage's row names what was read.
    fn describe(self, topic: &str, partitions: u32) -> String {
        match self {
            Reads::Everything => topic.to_string(),
            Reads::Partition(p) => format!("{topic}, partition {p} of {partitions}"),
        }
    }
}

/// Reads `topic` (all of it, or one partition: `reads`) from its end as of now, until
/// `stop`, and hands every record created at or after `since_ms` to `sample` with the
/// wall time it was read and its latency (read time minus creation time, ms); returns
/// what `sample` kept. Returns once the reader is assigned, so none is missed.
pub(crate) fn latency_reader<T: Send + 'static>(
    bootstrap: &str,
    topic: &str,
    reads: Reads,
    since_ms: i64,
    stop: Arc<AtomicBool>,
    mut sample: impl FnMut(&[u8], i64, f64) -> T + Send + 'static,
) -> Result<JoinHandle<Vec<T>>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", topics::unique("records-bench-latency"))
        .set("auto.offset.reset", "latest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    match reads {
        Reads::Everything => {
            consumer.subscribe(&[topic])?;
            let deadline = Instant::now() + Duration::from_secs(60);
            // The assignment, and the start at the end, happen inside poll.
            while consumer.assignment().map_or(0, |a| a.count()) == 0 {
                consumer.poll(Duration::from_millis(100));
                if Instant::now() > deadline {
                    return Err(format!(
                        "the latency reader of {topic} got no assignment within 60 s"
                    )
                    .into());
                }
            }
        }
        Reads::Partition(p) => {
            // The end is read here, not left to `Offset::End`, which librdkafka resolves
            // later, in the background, after records may already have been sent. A
            // partition just created may have no leader yet: tried again for 60 s, as a
            // group assignment is waited for above.
            let deadline = Instant::now() + Duration::from_secs(60);
            let end = loop {
                match consumer.fetch_watermarks(topic, p, Duration::from_secs(10)) {
                    Ok((_, end)) => break end,
                    Err(e) if Instant::now() > deadline => {
                        return Err(format!("reading the end of {topic}/{p}: {e}").into())
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            };
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, p, Offset::Offset(end))?;
            consumer.assign(&tpl)?;
        }
    }
    Ok(std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                if let Some(v) = m.payload() {
                    if let Some(sent) = sent_ms(v).filter(|t| *t >= since_ms) {
                        let at_ms = now_ms();
                        samples.push(sample(v, at_ms, (at_ms - sent) as f64));
                    }
                }
            }
        }
        samples
    }))
}

/// Waits until ingest has committed every customer profile written so far, so that the
/// records sent after are measured in the steady state, not behind the initial load of
/// the table.
pub(crate) fn customers_loaded(bootstrap: &str) -> Result<(), String> {
    await_caught_up(
        bootstrap,
        crate::roles::INGEST_APPLICATION_ID,
        topics::CUSTOMERS,
        Duration::from_secs(300),
    )
}

/// Runs the benchmark and prints its figures.
pub fn run(
    bootstrap: &str,
    partitions: u32,
    commit_ms: u64,
    rate: u64,
    cfg: GeneratorConfig,
) -> Result<(), Box<dyn std::error::Error>> {
    let admin = Admin::new(bootstrap).map_err(TopicError::connect)?;
    topics::create_all(&admin, partitions)?;
    let launcher = Launcher::new(bootstrap, partitions, commit_ms)?;
    let mut procs = vec![launcher.spawn(&["ingest"], "ingest")?];
    for d in detectors::all() {
        procs.push(launcher.spawn(&["detector", d.name()], d.name())?);
    }
    procs.push(launcher.spawn(&["notify"], "notify")?);

    let metrics: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", topics::unique("records-bench"))
        .set("auto.offset.reset", "latest")
        .create()?;
    metrics.subscribe(&[topics::METRICS])?;
    let records = cfg.records;
    let stop_reader = Arc::new(AtomicBool::new(false));
    // Each stage's output, so that the table shows where the time goes. Ingest's output
    // is every record of the run: a flood reads back one partition of it (see `Reads`).
    let since = now_ms();
    let enriched = if rate > 0 {
        Reads::Everything
    } else {
        Reads::Partition(0)
    };
    let stages = [
        ("ingest", topics::ENRICHED, enriched),
        ("detectors", topics::ALERTS, Reads::Everything),
        ("notify", topics::NOTIFICATIONS, Reads::Everything),
    ];
    let readers = stages
        .iter()
        .map(|(_, t, reads)| {
            latency_reader(
                bootstrap,
                t,
                *reads,
                since,
                stop_reader.clone(),
                |_, _, l| l,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let generator = {
        let (b, cfg) = (bootstrap.to_string(), cfg.clone());
        std::thread::spawn(move || {
            let loaded = || customers_loaded(&b);
            crate::publish::run(&b, partitions, cfg, rate, &loaded).map_err(|e| e.to_string())
        })
    };
    // Latest value of every counter, by metric name (summed over instances).
    let mut latest: HashMap<String, f64> = HashMap::new();
    let total = |latest: &HashMap<String, f64>, suffix: &str| -> f64 {
        latest
            .iter()
            .filter(|(k, _)| k.ends_with(suffix))
            .map(|(_, v)| v)
            .sum()
    };
    let mut last_report = Instant::now();
    let done = loop {
        if let Some(Ok(m)) = metrics.poll(Duration::from_millis(100)) {
            if let (Some(k), Some(v)) = (m.key(), m.payload()) {
                if let Ok(b) = <[u8; 8]>::try_from(v) {
                    let name = String::from_utf8_lossy(k);
                    let metric = name.split_once('|').map_or(&*name, |(_, m)| m).to_string();
                    latest.insert(metric, f64::from_be_bytes(b));
                }
            }
        }
        let read = total(&latest, "ingest_read");
        let valid = total(&latest, "ingest_valid");
        let dlq = total(&latest, "ingest_dead_lettered");
        let detectors_done = detectors::all().iter().all(|d| {
            let name = format!("detector_{}_processed", d.name().replace('-', "_"));
            latest.get(&name).copied().unwrap_or(0.0) >= valid
        });
        let alerts: f64 = latest
            .iter()
            .filter(|(k, _)| k.starts_with("detector_") && k.ends_with("_alerts"))
            .map(|(_, v)| v)
            .sum();
        let notified = total(&latest, "notify_alerts");
        if last_report.elapsed() > Duration::from_secs(10) {
            for p in &mut procs {
                p.sample();
            }
            let slowest = detectors::all()
                .iter()
                .map(|d| {
                    let name = format!("detector_{}_processed", d.name().replace('-', "_"));
                    (latest.get(&name).copied().unwrap_or(0.0), d.name())
                })
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or((0.0, ""));
            eprintln!(
                "{:>6.0} s: ingest read {read:.0} (valid {valid:.0}, dead-lettered {dlq:.0}), slowest detector {} at {:.0}, alerts {alerts:.0}, notify read {notified:.0}",
                started.elapsed().as_secs_f64(),
                slowest.1,
                slowest.0
            );
            last_report = Instant::now();
        }
        if read >= records as f64
            && valid + dlq >= records as f64
            && detectors_done
            && notified >= alerts
        {
            break true;
        }
        if started.elapsed() > Duration::from_secs(3 * 3600) {
            break false;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    for p in &mut procs {
        p.sample();
    }
    let report = generator.join().map_err(|_| "generator panicked")??;
    // The last notifications reach the reader a moment after notify counted them.
    std::thread::sleep(Duration::from_secs(2));
    stop_reader.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for r in readers {
        let mut l = r.join().map_err(|_| "latency reader panicked")?;
        l.sort_by(f64::total_cmp);
        latencies.push(l);
    }
    println!("{report}");
    println!(
        "{} {records} records through ingest, {} detectors and notify in {secs:.1} s: {:.0} records/s",
        if done { "all" } else { "NOT all (timed out)" },
        detectors::all().len(),
        records as f64 / secs
    );
    println!(
        "latency from a record's creation to each stage's output{}:",
        if rate > 0 {
            format!(", sent at {rate} records/s")
        } else {
            ", sent as fast as the broker takes them".to_string()
        }
    );
    println!("| output of | records | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for ((stage, topic, reads), l) in stages.iter().zip(&latencies) {
        println!(
            "| {stage} ({}) | {} | {:.0} | {:.0} | {:.0} |",
            reads.describe(topic, partitions),
            l.len(),
            quantile(l, 0.5),
            quantile(l, 0.99),
            l.last().copied().unwrap_or(f64::NAN)
        );
    }
    // CPU per record shows where a run's two cores went: the roles, as against the
    // generator and the broker, which share the machine.
    println!("| process | peak RSS MiB | CPU s | CPU µs per record |");
    println!("|---|---|---|---|");
    let per_record = |cpu: Duration| cpu.as_secs_f64() * 1e6 / records.max(1) as f64;
    let mut cpu = Duration::ZERO;
    for p in &procs {
        cpu += p.cpu();
        println!(
            "| {} | {:.0} | {:.1} | {:.1} |",
            p.name,
            p.peak_mib(),
            p.cpu().as_secs_f64(),
            per_record(p.cpu())
        );
    }
    println!(
        "| every role | | {:.1} | {:.1} |",
        cpu.as_secs_f64(),
        per_record(cpu)
    );
    // This process: the generator, the latency readers and the metrics reader.
    if let Some(own) = procfs::process::Process::myself()
        .ok()
        .as_ref()
        .and_then(cpu_of)
    {
        println!(
            "| this process (generator, readers) | | {:.1} | {:.1} |",
            own.as_secs_f64(),
            per_record(own)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sent_ms;
    use crate::model::{Alert, Customer, CustomerRecord, Enriched};

    #[test]
    fn creation_time_is_read_from_each_pipeline_topic() {
        let record = CustomerRecord {
            record_id: "r1".into(),
            customer_id: "c1".into(),
            ts: 5,
            amount: 12.5,
            currency: "EUR".into(),
            country: "FR".into(),
            device: "d\"1".into(),
            sent_ms: 1_700_000_000_123,
        };
        let enriched = Enriched {
            record: record.clone(),
            customer: Customer {
                id: "c1".into(),
                home_country: "FR".into(),
                devices: vec!["d1".into(), "d2".into()],
                typical_spend: 10.0,
                activity: 2.0,
                last_active: 7,
            },
        };
        let alert = Alert {
            detector: "velocity".into(),
            customer_id: "c1".into(),
            record_id: "r1".into(),
            ts: 5,
            reason: "12 records within a minute".into(),
            sent_ms: 1_700_000_000_456,
            window_start: Some(0),
        };
        let enriched = serde_json::to_vec(&enriched).expect("enriched encodes");
        let alert = serde_json::to_vec(&alert).expect("alert encodes");
        assert_eq!(sent_ms(&enriched), Some(1_700_000_000_123));
        assert_eq!(sent_ms(&alert), Some(1_700_000_000_456));
        assert_eq!(sent_ms(b"{\"customer_id\":\"c1\"}"), None);
        assert_eq!(sent_ms(b"not json"), None);
    }
}
