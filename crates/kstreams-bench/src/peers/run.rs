//! One measured run: fresh topics on the shared broker, the input, one system's worker
//! process, the observer, and the check of its output.

use super::kafka_streams::{self, JavaWorker};
use super::observer::{self, now_ms, CpuSample, ObserverConfig};
use super::process::{Exit, Measured};
use super::workloads::{self, System, Workload};
use super::BenchError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::BaseProducer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Settings every run of one invocation shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Input records of W1–W3, the warm-up's included.
    pub records: u64,
    /// Records of the warm-up under load, after the first output and before the measured
    /// span: at full speed (W1–W3) or at the W4 rate (W4).
    pub warmup_records: u64,
    /// Partitions of input and output topics.
    pub partitions: i32,
    /// Commit interval of every system, ms.
    pub commit_ms: u64,
    /// W4's input rate, records/s.
    pub rate: u64,
    /// W4's measured duration, s.
    pub latency_secs: u64,
    /// W4's `fetch.wait.max.ms`, for every consumer.
    pub fetch_wait_ms: u64,
    /// Where runs keep broker logs, worker logs and state.
    pub work_dir: PathBuf,
    /// The broker every run uses (fresh topics and groups per run).
    pub bootstrap: String,
    /// The broker's process, for its CPU; `None` for an external broker.
    pub broker_pid: Option<u32>,
    /// Python of the Quix Streams venv.
    pub python: Option<PathBuf>,
    /// The Python with kstreams' package, when `kstreams-py` runs.
    pub kstreams_python: Option<PathBuf>,
    /// The built Kafka Streams worker.
    pub java: Option<JavaWorker>,
    /// This binary, which runs the kstreams and raw-loop workers.
    pub self_exe: PathBuf,
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The system.
    pub system: System,
    /// The workload.
    pub workload: Workload,
    /// Input records, warm-up included.
    pub records_in: u64,
    /// Input records written after the warm-up: the ones the figures are per.
    pub measured: u64,
    /// Outputs read, all checked.
    pub outputs: usize,
    /// From the first measured input to the last output, s.
    pub secs: f64,
    /// Worker CPU in that span, s.
    pub worker_cpu: f64,
    /// Broker CPU in that span, s.
    pub broker_cpu: f64,
    /// The worker's whole life (start-up, warm-up and shutdown included): its CPU and
    /// peak RSS.
    pub exit: Exit,
    /// From spawning the worker to its first output, s.
    pub first_output_after: f64,
    /// W4: latency p50 and p99, ms, and the number of samples.
    pub latency: Option<(f64, f64, usize)>,
}

impl RunResult {
    /// Measured input records per second, first measured input to last output.
    pub fn throughput(&self) -> f64 {
        self.measured as f64 / self.secs
    }
    /// Worker CPU per measured input record, µs.
    pub fn cpu_us(&self) -> f64 {
        self.worker_cpu / self.measured as f64 * 1e6
    }
    /// Broker CPU per measured input record, µs.
    pub fn broker_cpu_us(&self) -> f64 {
        self.broker_cpu / self.measured as f64 * 1e6
    }
}

/// librdkafka consumer settings every system and the observer get alike in a workload.
/// W4 measures latency: an empty fetch returns after `fetch_wait_ms` instead of
/// librdkafka's 500 ms, for brokers that do not answer a waiting fetch when records
/// arrive.
pub fn consumer_config(s: &Settings, w: Workload) -> Vec<(String, String)> {
    match w {
        Workload::W4 => vec![("fetch.wait.max.ms".into(), s.fetch_wait_ms.to_string())],
        _ => Vec::new(),
    }
}

/// Runs `system` on `workload` once and checks its output.
///
/// The worker starts on an empty input topic and gets one record every 50 ms until its
/// first output shows it has joined the group and processes. Then comes the warm-up under
/// load, the same for every system: [`Settings::warmup_records`] records (W1–W3 at full
/// speed, W4 at its fixed rate), and a wait until all their outputs have arrived, so that
/// a JIT (Kafka Streams' JVM) is as warm as a long-running service's would be, and caches,
/// buffers and heaps have grown to their working size. Only then does the measured input
/// go in (W1–W3: all the remaining records at full speed; W4: at the fixed rate for
/// `latency_secs`), and the clock and the CPU counters start. So start-up, imports, the
/// group join and the warm-up are not in the per-record figures; the span is from the
/// first measured input to the last output. The whole-life CPU and the peak RSS include
/// everything. The check covers every output, the warm-up's included.
pub fn run(
    s: &Settings,
    system: System,
    w: Workload,
    round: usize,
) -> Result<RunResult, BenchError> {
    let fail = |reason: String| BenchError::Run {
        system: system.label().into(),
        workload: w.id().into(),
        reason,
    };
    let name = format!("{}-{:?}-{round}", w.id(), system).to_lowercase();
    let dir = s.work_dir.join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io(&dir, e))?;
    if w != Workload::W4 && s.warmup_records >= s.records {
        return Err(fail(format!(
            "{} warm-up records leave none of {} to measure",
            s.warmup_records, s.records
        )));
    }
    // Made before anything starts, so that the producer only copies bytes.
    let records = if w == Workload::W4 {
        Vec::new()
    } else {
        (0..s.records)
            .map(workloads::input_record)
            .collect::<Result<Vec<_>, _>>()?
    };
    // Names of this run only: no run reads another's data or offsets.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let (input, output) = (format!("in-{name}-{stamp}"), format!("out-{name}-{stamp}"));
    let group = format!("bench-{name}-{stamp}");
    let bootstrap = s.bootstrap.as_str();
    create_topics(bootstrap, &[&input, &output], s.partitions)?;
    let consumer_config = consumer_config(s, w);
    let names = RunNames {
        bootstrap,
        input: &input,
        output: &output,
        group: &group,
    };
    let cmd = worker_command(s, system, w, &names, &dir, &consumer_config)?;
    let spawned = Instant::now();
    let worker = Measured::spawn(&name, cmd, &dir.join("worker.log"))?;
    let (progress, observer) = observer::spawn(ObserverConfig {
        bootstrap: bootstrap.to_string(),
        topic: output.clone(),
        partitions: s.partitions,
        worker_pid: worker.pid(),
        broker_pid: s.broker_pid,
        consumer_config: consumer_config.clone(),
    })?;
    let driven = drive(
        s,
        w,
        &Feed {
            bootstrap,
            input: &input,
            records: &records,
            progress: &progress,
            worker: &worker,
            broker_pid: s.broker_pid,
        },
    );
    let (start, records_in, warm_up) = match driven {
        Ok(d) => d,
        Err(e) => {
            progress.stop.store(true, Ordering::Relaxed);
            let tail = worker.log_tail(30);
            return Err(fail(format!("{e}\n--- worker log\n{tail}")));
        }
    };
    progress.expected.store(
        workloads::expected_outputs(w, records_in),
        Ordering::Release,
    );
    let waited = wait_for_outputs(&progress, &worker);
    // Anything written twice arrives within a moment of the last expected output.
    std::thread::sleep(Duration::from_secs(1));
    progress.stop.store(true, Ordering::Relaxed);
    let seen = observer
        .join()
        .map_err(|_| fail("the observer thread panicked".into()))?;
    let tail = worker.log_tail(30);
    let exit = worker.stop(Duration::from_secs(60))?;
    if !exit.clean {
        eprintln!(
            "  {name}: the worker did not stop cleanly on SIGTERM; see {}",
            dir.display()
        );
    }
    // The worker's internal topics go too (Quix Streams' and kstreams' changelogs and
    // repartition topics carry the group's name), so a long session does not fill the disk.
    delete_topics_of_run(bootstrap, &[&input, &output], &group);
    waited.map_err(|e| fail(format!("{e}\n--- worker log\n{tail}")))?;
    workloads::verify(w, records_in, &seen.outputs).map_err(&fail)?;
    let (Some(t0), Some(first), Some(t1)) = (start.at, seen.first_at, seen.last.at) else {
        return Err(fail("no output was timed".into()));
    };
    let latency = (w == Workload::W4).then(|| {
        let mut l = seen.latencies_ms;
        l.sort_by(f64::total_cmp);
        (crate::quantile(&l, 0.5), crate::quantile(&l, 0.99), l.len())
    });
    let _ = std::fs::remove_dir_all(dir.join("state"));
    Ok(RunResult {
        system,
        workload: w,
        records_in,
        measured: records_in - warm_up,
        outputs: seen.outputs.len(),
        secs: (t1 - t0).as_secs_f64(),
        worker_cpu: seen.last.worker - start.worker,
        broker_cpu: seen.last.broker - start.broker,
        exit,
        first_output_after: (first - spawned).as_secs_f64(),
        latency,
    })
}

/// Waits until the observer has every expected output; fails when the worker dies or no
/// output arrives for a minute.
fn wait_for_outputs(progress: &observer::Progress, worker: &Measured) -> Result<(), String> {
    let (mut last_read, mut last_change) = (0, Instant::now());
    while !progress.reached.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
        let read = progress.read.load(Ordering::Relaxed);
        let expected = progress.expected.load(Ordering::Relaxed);
        if read != last_read {
            (last_read, last_change) = (read, Instant::now());
        }
        if !worker.running() {
            return Err(format!(
                "the worker exited after {read} of {expected} outputs"
            ));
        }
        if last_change.elapsed() > Duration::from_secs(60) {
            return Err(format!("stalled at {read} of {expected} outputs"));
        }
    }
    Ok(())
}

/// What [`drive`] feeds and watches.
struct Feed<'a> {
    bootstrap: &'a str,
    input: &'a str,
    /// W1–W3's input, made before the run.
    records: &'a [(String, Vec<u8>, i64)],
    progress: &'a observer::Progress,
    worker: &'a Measured,
    broker_pid: Option<u32>,
}

/// Feeds the input: the warm-up (a trickle until the first output, then
/// [`Settings::warmup_records`] under load, until their outputs have arrived), then the
/// measured records. Returns the CPU sample at the start of the measured input, the
/// records written in all, and how many of them were warm-up.
fn drive(s: &Settings, w: Workload, feed: &Feed<'_>) -> Result<(CpuSample, u64, u64), String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", feed.bootstrap)
        .set("acks", "all")
        .set("partitioner", "murmur2_random");
    if w != Workload::W4 {
        // Throughput runs: fill the topic as fast as the broker takes it.
        config.set("linger.ms", "20");
    }
    let producer: BaseProducer = config
        .create()
        .map_err(|e| format!("input producer: {e}"))?;
    // W4 stamps records when sent, for latency; the others keep their event time, so
    // that every system sees the same windows.
    let send = |id: u64| -> Result<(), String> {
        if w == Workload::W4 {
            let (key, value, _) = workloads::input_record(id).map_err(|e| e.to_string())?;
            workloads::send(&producer, feed.input, key.as_bytes(), &value, now_ms());
        } else {
            let (key, value, ts) = feed
                .records
                .get(id as usize)
                .ok_or_else(|| format!("input record {id} of {}", feed.records.len()))?;
            workloads::send(&producer, feed.input, key.as_bytes(), value, *ts);
        }
        Ok(())
    };
    // W4's pace: `n` records from `from` at `s.rate` records/s.
    let paced = |from: u64, n: u64| -> Result<(), String> {
        let t = Instant::now();
        for i in 0..n {
            let due = t + Duration::from_secs_f64(i as f64 / s.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                if wait > Duration::from_millis(1) {
                    std::thread::sleep(wait);
                }
            }
            send(from + i)?;
        }
        Ok(())
    };
    let flush = || {
        rdkafka::producer::Producer::flush(&producer, Duration::from_secs(120))
            .map_err(|e| format!("input not acknowledged: {e}"))
    };
    let mut id = 0u64;
    let warm_up = Instant::now();
    while feed.progress.read.load(Ordering::Relaxed) == 0 {
        if !feed.worker.running() || warm_up.elapsed() > Duration::from_secs(180) {
            return Err(format!(
                "no output after {:.0} s of warm-up",
                warm_up.elapsed().as_secs_f64()
            ));
        }
        if w != Workload::W4 && id + 1 >= s.records {
            return Err("the warm-up used up the input".into());
        }
        send(id)?;
        id += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    // The warm-up under load, the same for every system: W1–W3 at full speed, as their
    // measured input goes; W4 at its fixed rate, so that the worker settles into the
    // measured load rather than into a backlog.
    if w == Workload::W4 {
        paced(id, s.warmup_records)?;
    } else {
        if id + s.warmup_records >= s.records {
            return Err(format!(
                "the warm-up ({id} records until the first output, then {}) used up the {} records",
                s.warmup_records, s.records
            ));
        }
        for i in id..id + s.warmup_records {
            send(i)?;
        }
    }
    id += s.warmup_records;
    flush()?;
    // The measured span starts once every warm-up output has arrived: nothing of the
    // warm-up is left in flight to be counted in it.
    wait_for_count(
        feed.progress,
        feed.worker,
        workloads::expected_outputs(w, id),
    )
    .map_err(|e| format!("warm-up: {e}"))?;
    let warm = id;
    let start = observer::sample(feed.worker.pid(), feed.broker_pid);
    feed.progress
        .latency_from_ms
        .store(now_ms(), Ordering::Relaxed);
    if w == Workload::W4 {
        let total = s.rate * s.latency_secs;
        paced(id, total)?;
        id += total;
    } else {
        while id < s.records {
            send(id)?;
            id += 1;
        }
    }
    flush()?;
    Ok((start, id, warm))
}

/// Waits until the observer has read `target` outputs; fails when the worker dies or no
/// output arrives for a minute.
fn wait_for_count(
    progress: &observer::Progress,
    worker: &Measured,
    target: usize,
) -> Result<(), String> {
    let (mut last_read, mut last_change) = (0, Instant::now());
    loop {
        let read = progress.read.load(Ordering::Relaxed);
        if read >= target {
            return Ok(());
        }
        if read != last_read {
            (last_read, last_change) = (read, Instant::now());
        }
        if !worker.running() {
            return Err(format!(
                "the worker exited after {read} of {target} outputs"
            ));
        }
        if last_change.elapsed() > Duration::from_secs(60) {
            return Err(format!("stalled at {read} of {target} outputs"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The broker, topics and consumer group of one run.
struct RunNames<'a> {
    bootstrap: &'a str,
    input: &'a str,
    output: &'a str,
    group: &'a str,
}

fn worker_command(
    s: &Settings,
    system: System,
    w: Workload,
    names: &RunNames<'_>,
    dir: &Path,
    consumer_config: &[(String, String)],
) -> Result<Command, BenchError> {
    let state = dir.join("state");
    // The driver states consumer settings librdkafka's way; the Java client has its own
    // names for some.
    let consumer_config = match system {
        System::KafkaStreams => kafka_streams::java_consumer_config(consumer_config),
        _ => consumer_config.to_vec(),
    };
    let extra = consumer_config
        .iter()
        .flat_map(|(k, v)| ["--consumer-config".to_string(), format!("{k}={v}")]);
    let mut cmd = match system {
        System::Quix => {
            let python = s.python.as_ref().ok_or_else(|| BenchError::Install {
                what: "quixstreams".into(),
                reason: "no Python environment was prepared".into(),
            })?;
            let mut c = Command::new(python);
            c.arg("-W")
                .arg("ignore")
                .arg(super::quix::worker_script())
                .args([
                    "--commit-interval",
                    &format!("{}", s.commit_ms as f64 / 1e3),
                ]);
            c
        }
        System::KstreamsPy => {
            let python = s
                .kstreams_python
                .as_ref()
                .ok_or_else(|| BenchError::Install {
                    what: "kstreams (Python)".into(),
                    reason: "no Python environment was prepared".into(),
                })?;
            let mut c = Command::new(python);
            c.arg(super::kstreams_py::worker_script()).args([
                "--commit-interval",
                &format!("{}", s.commit_ms as f64 / 1e3),
            ]);
            c
        }
        System::KafkaStreams => {
            let java = s.java.as_ref().ok_or_else(|| BenchError::Install {
                what: "the Kafka Streams worker".into(),
                reason: "it was not built".into(),
            })?;
            let mut c = java.command();
            c.args(["--commit-ms", &s.commit_ms.to_string()]);
            c
        }
        System::Kstreams | System::KstreamsHttp | System::Raw => {
            let name = clap::ValueEnum::to_possible_value(&system)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            let mut c = Command::new(&s.self_exe);
            c.args(["worker", "--system", &name])
                .args(["--commit-ms", &s.commit_ms.to_string()]);
            c
        }
    };
    cmd.args(["--workload", w.id(), "--bootstrap", names.bootstrap])
        .args(["--input", names.input, "--output", names.output])
        .args(["--group", names.group])
        .arg("--state-dir")
        .arg(&state)
        .args(extra);
    Ok(cmd)
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, BenchError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| BenchError::Broker(format!("admin client: {e}")))
}

fn create_topics(bootstrap: &str, names: &[&str], partitions: i32) -> Result<(), BenchError> {
    let admin = admin(bootstrap)?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        // Quix Streams derives its changelog topics' retention from the input topic's.
        .map(|n| {
            NewTopic::new(n, partitions, TopicReplication::Fixed(-1))
                .set("retention.ms", "-1")
                .set("retention.bytes", "-1")
        })
        .collect();
    let results = futures_executor::block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .map_err(|e| BenchError::Broker(format!("creating topics: {e}")))?;
    for r in results {
        r.map_err(|(t, e)| BenchError::Broker(format!("creating topic {t}: {e}")))?;
    }
    Ok(())
}

/// Deletes a run's topics and every topic named after its group; failures are only
/// reported, since the figures are already taken.
fn delete_topics_of_run(bootstrap: &str, names: &[&str], group: &str) {
    let result = admin(bootstrap).and_then(|admin| {
        let md = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|e| BenchError::Broker(format!("metadata: {e}")))?;
        let doomed: Vec<String> = md
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|t| names.contains(&t.as_str()) || t.contains(group))
            .collect();
        let refs: Vec<&str> = doomed.iter().map(String::as_str).collect();
        futures_executor::block_on(admin.delete_topics(&refs, &AdminOptions::new()))
            .map_err(|e| BenchError::Broker(format!("deleting topics: {e}")))?;
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("  could not delete the run's topics: {e}");
    }
}
