//! `records bench`: the platform at volume, each role its own process against one broker.
//!
//! Starts ingest, every detector and notify as child processes, generates `records`
//! records as fast as the broker takes them, and measures the wall time until every record
//! has gone through ingest, every detector and notify (from the counters the roles report
//! to `metrics`), the throughput, and each process's peak resident memory.

use crate::detectors;
use crate::generate::GeneratorConfig;
use crate::topics::{self, TopicError};
use kstreams::runtime::kafka::Admin;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One child process.
struct Proc {
    name: String,
    child: Child,
    peak_kib: u64,
}

impl Proc {
    /// Refreshes the peak resident memory (VmHWM) from /proc.
    fn sample(&mut self) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        if let Some(kib) = status.ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        }) {
            self.peak_kib = self.peak_kib.max(kib);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the benchmark and prints its figures.
pub fn run(
    bootstrap: &str,
    partitions: u32,
    commit_ms: u64,
    cfg: GeneratorConfig,
) -> Result<(), Box<dyn std::error::Error>> {
    let admin = Admin::new(bootstrap).map_err(TopicError::connect)?;
    topics::create_all(&admin, partitions)?;
    let exe = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(topics::unique("records-bench"));
    let spawn = |args: &[&str], name: &str| -> std::io::Result<Proc> {
        let child = Command::new(&exe)
            .args(args)
            .args(["--bootstrap", bootstrap, "--instance", name, "--partitions"])
            .arg(partitions.to_string())
            .arg("--commit-ms")
            .arg(commit_ms.to_string())
            .arg("--state-dir")
            .arg(dir.join(name))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Proc {
            name: name.to_string(),
            child,
            peak_kib: 0,
        })
    };
    let mut procs = vec![spawn(&["ingest"], "ingest")?];
    for d in detectors::all() {
        procs.push(spawn(&["detector", d.name()], d.name())?);
    }
    procs.push(spawn(&["notify"], "notify")?);

    let metrics: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", topics::unique("records-bench"))
        .set("auto.offset.reset", "latest")
        .create()?;
    metrics.subscribe(&[topics::METRICS])?;
    let records = cfg.records;
    let started = Instant::now();
    let generator = {
        let (b, cfg) = (bootstrap.to_string(), cfg.clone());
        std::thread::spawn(move || {
            crate::publish::run(&b, partitions, cfg, 0).map_err(|e| e.to_string())
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
    println!("{report}");
    println!(
        "{} {records} records through ingest, {} detectors and notify in {secs:.1} s: {:.0} records/s",
        if done { "all" } else { "NOT all (timed out)" },
        detectors::all().len(),
        records as f64 / secs
    );
    println!("| process | peak RSS MiB |");
    println!("|---|---|");
    for p in &procs {
        println!("| {} | {:.0} |", p.name, p.peak_kib as f64 / 1024.0);
    }
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
