//! Differential conformance: the topologies of `conformance/README.md` on Kafka Streams and
//! on kstreams, over one seeded input on Apache Kafka; prints a pass/fail table and exits
//! non-zero on any difference that the README does not list as intended.
//!
//! `cargo run --release -p kstreams-conformance` (starts Kafka with `tools/kafka/run`,
//! builds the Java reference with Maven).

mod broker;
mod compare;
mod input;
mod java;
mod settle;
mod spec;
mod topologies;

use clap::Parser;
use kstreams::runtime::kafka::{KafkaStreams, State, StreamsConfig};
use kstreams_testkit::kafka::KafkaCluster;
use spec::Spec;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Why the suite could not run (a difference is not an error: it is a failed row).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker or a client of it failed.
    #[error("broker: {0}")]
    Broker(String),
    /// The Java reference could not be built or started.
    #[error("Kafka Streams reference: {0}")]
    Java(String),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Differences `conformance/README.md` lists as intended: the topology, the aspects that
/// differ, and why (the README's "Intended differences" says it at length).
const INTENDED: &[(&str, &[&str], &str)] = &[
    (
        "stream-count",
        &["output", "changelog stream-count-store"],
        "null values: kstreams aggregates a None value like any value; Kafka Streams skips null values in non-windowed aggregations",
    ),
    (
        "flatmap-count",
        &["output", "changelog flatmap-count-store"],
        "null values: the words of null-keyed lines carry a None value, which kstreams counts and Kafka Streams skips",
    ),
    (
        "sliding-count",
        &["output", "changelog sliding-count-store"],
        "null values as above; and kstreams counts every on-time record in a window, where Kafka Streams does not carry an out-of-order record whose own window had closed into windows created later",
    ),
    (
        "session-count",
        &["output", "changelog session-count-store"],
        "kstreams drops a record that would extend a session already closed, so no final session is ever extended; Kafka Streams merges it, or starts a new session if its store's retention dropped the old one",
    ),
    (
        "emit-final",
        &["output", "commit metadata"],
        "Kafka Streams never emits windows that close in the same stream-time jump that expires them from its size-plus-grace store; kstreams emits every window once. Both commit the close time emitted up to as processor metadata, kstreams from an aggregation's first record and at every window boundary, Kafka Streams at most once a second, so the values may differ",
    ),
];

#[derive(Parser, Debug)]
struct Cli {
    /// A running Apache Kafka; default: start one with `tools/kafka/run`.
    #[arg(long)]
    bootstrap: Option<String>,
    /// Only these topologies (comma separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Seed of the input.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Logs and state.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("kstreams-conformance"))]
    work_dir: PathBuf,
    /// How long both systems get to process everything, seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn app_id(run: &str, name: &str, side: &str) -> String {
    format!("conf-{run}-{name}-{side}")
}

fn output_topic(run: &str, name: &str, side: &str) -> String {
    format!("conf-{run}-{name}-out-{side}")
}

/// Starts every topology on kstreams, in this process.
fn start_rust(
    bootstrap: &str,
    run: &str,
    specs: &[Spec],
    work: &std::path::Path,
) -> Vec<(String, Result<KafkaStreams, String>)> {
    let prefix = format!("conf-{run}-");
    specs
        .iter()
        .map(|s| {
            let output = output_topic(run, s.name, "rust");
            let names = topologies::Names {
                prefix: &prefix,
                output: &output,
            };
            let started = topologies::build(s.name, &names)
                .map_err(|e| format!("topology: {e}"))
                .and_then(|topology| {
                    let config = StreamsConfig::new(app_id(run, s.name, "rust"), bootstrap)
                        .commit_interval(Duration::from_millis(100))
                        .state_dir(work.join("rust-state").join(s.name));
                    let streams = KafkaStreams::new(topology, config);
                    streams.start().map_err(|e| format!("start: {e}"))?;
                    Ok(streams)
                });
            (s.name.to_string(), started)
        })
        .collect()
}

fn run(cli: Cli) -> Result<bool, Error> {
    let specs = spec::select(&cli.only).map_err(Error::Broker)?;
    let started = Instant::now();
    let _ = std::fs::remove_dir_all(&cli.work_dir);
    std::fs::create_dir_all(&cli.work_dir).map_err(|source| Error::Io {
        path: cli.work_dir.clone(),
        source,
    })?;
    eprintln!("building the Kafka Streams reference (mvn)");
    let classpath = java::build(&cli.work_dir)?;
    let cluster = match &cli.bootstrap {
        Some(_) => None,
        None => {
            eprintln!("starting Apache Kafka {}", KafkaCluster::version());
            Some(KafkaCluster::start(1))
        }
    };
    let bootstrap = cli
        .bootstrap
        .clone()
        .or_else(|| cluster.as_ref().map(|c| c.bootstrap().to_string()))
        .unwrap_or_default();
    let run = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            % 1_000_000
    );
    let prefix = format!("conf-{run}-");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let inputs = input::generate(cli.seed, input::base_time(now_ms));
    let mut topics: Vec<(String, i32)> = inputs
        .iter()
        .map(|t| (format!("{prefix}{}", t.name), t.partitions))
        .collect();
    for s in &specs {
        for side in ["java", "rust"] {
            topics.push((output_topic(&run, s.name, side), 3));
        }
    }
    broker::create_topics(&bootstrap, &topics)?;
    broker::write_input(&bootstrap, &prefix, &inputs)?;
    let records: usize = inputs.iter().map(|t| t.records.len()).sum();
    eprintln!(
        "run {run}: {records} input records in {} topics (seed {}); {} topologies",
        inputs.len(),
        cli.seed,
        specs.len()
    );

    let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
    let mut reference =
        java::Reference::start(&classpath, &bootstrap, &run, &names, &cli.work_dir)?;
    let rust = start_rust(&bootstrap, &run, &specs, &cli.work_dir);

    let mut apps = Vec::new();
    for s in &specs {
        for side in ["java", "rust"] {
            apps.push(settle::App {
                group: app_id(&run, s.name, side),
                inputs: s.inputs.iter().map(|i| format!("{prefix}{i}")).collect(),
                output: output_topic(&run, s.name, side),
            });
        }
    }
    let java_reports = reference.reports.clone();
    let failed = |app: &settle::App| -> Option<String> {
        let name = specs
            .iter()
            .find(|s| {
                app.group == app_id(&run, s.name, "java")
                    || app.group == app_id(&run, s.name, "rust")
            })
            .map(|s| s.name)?;
        if app.group.ends_with("-java") {
            match java_reports.lock().ok()?.get(name) {
                Some(Err(e)) => Some(format!("Kafka Streams failed: {e}")),
                _ => None,
            }
        } else {
            match rust.iter().find(|(n, _)| n == name).map(|(_, r)| r) {
                Some(Err(e)) => Some(e.clone()),
                Some(Ok(s)) if s.state() == State::Error => Some("kstreams failed".into()),
                _ => None,
            }
        }
    };
    let settled = settle::wait(
        &bootstrap,
        &apps,
        Duration::from_secs(cli.timeout_secs),
        &failed,
    )?;
    if !reference.alive() {
        eprintln!(
            "the Kafka Streams JVM exited early; see {}",
            cli.work_dir.join("kafka-streams.log").display()
        );
    }

    let mut rows = Vec::new();
    let mut all_pass = true;
    for (i, s) in specs.iter().enumerate() {
        let row = check(&bootstrap, &run, s, &settled)?;
        let intended = INTENDED.iter().find(|(t, aspects, _)| {
            *t == s.name
                && row
                    .failures
                    .iter()
                    .all(|(what, _)| aspects.contains(&what.as_str()))
        });
        let verdict = if row.failures.is_empty() {
            "PASS".to_string()
        } else if let Some((_, _, why)) = intended {
            format!("documented: {why}")
        } else {
            all_pass = false;
            "FAIL".to_string()
        };
        rows.push((i + 1, s, row, verdict));
    }
    println!("| # | topology | mode | output records | changelogs | commit metadata | result |");
    println!("|---|---|---|---|---|---|---|");
    for (i, s, row, verdict) in &rows {
        let verdict = if verdict.starts_with("documented") {
            "documented difference"
        } else {
            verdict.as_str()
        };
        println!(
            "| {i} | `{}` | {} | {} | {} | {} | {verdict} |",
            s.name,
            s.mode.label(),
            row.output,
            row.changelogs,
            row.metadata,
        );
    }
    println!();
    for (_, s, row, verdict) in &rows {
        for (what, detail) in &row.failures {
            println!("- `{}` {what} ({verdict}): {detail}", s.name);
        }
    }
    let passed = rows.iter().filter(|r| r.3 == "PASS").count();
    println!(
        "\n{passed} of {} topologies pass, {} documented differences, {} fail ({:.0} s)",
        rows.len(),
        rows.iter()
            .filter(|r| r.3.starts_with("documented"))
            .count(),
        rows.iter().filter(|r| r.3 == "FAIL").count(),
        started.elapsed().as_secs_f64()
    );
    for (_, streams) in rust {
        if let Ok(s) = streams {
            s.close();
        }
    }
    drop(reference);
    Ok(all_pass)
}

/// One row of the table: a short text per column, and every difference found.
struct Row {
    output: String,
    changelogs: String,
    metadata: String,
    failures: Vec<(String, String)>,
}

fn check(
    bootstrap: &str,
    run: &str,
    s: &Spec,
    settled: &BTreeMap<String, Result<(), String>>,
) -> Result<Row, Error> {
    let mut row = Row {
        output: "-".into(),
        changelogs: "-".into(),
        metadata: "-".into(),
        failures: Vec::new(),
    };
    for side in ["java", "rust"] {
        if let Some(Err(e)) = settled.get(&app_id(run, s.name, side)) {
            row.failures.push((format!("run ({side})"), e.clone()));
        }
    }
    if !row.failures.is_empty() {
        row.output = "not run".into();
        return Ok(row);
    }
    let java = broker::read_all(bootstrap, &output_topic(run, s.name, "java"), 3)?;
    let rust = broker::read_all(bootstrap, &output_topic(run, s.name, "rust"), 3)?;
    match compare::outputs(s.mode, &java, &rust) {
        Ok(n) => row.output = format!("{n} equal"),
        Err(e) => {
            row.output = "differ".into();
            row.failures.push(("output".into(), e));
        }
    }
    let consumer = broker::reader(bootstrap, "conformance-check")?;
    let topics = broker::topics(&consumer)?;
    let mut equal = 0;
    for store in s.stores {
        let topic = |side| format!("{}-{store}-changelog", app_id(run, s.name, side));
        let (jt, rt) = (topic("java"), topic("rust"));
        let (Some(&jn), Some(&rn)) = (topics.get(&jt), topics.get(&rt)) else {
            row.failures.push((
                format!("changelog {store}"),
                format!(
                    "missing: {jt} {} / {rt} {}",
                    topics.contains_key(&jt),
                    topics.contains_key(&rt)
                ),
            ));
            continue;
        };
        let (j, r) = (
            broker::read_all(bootstrap, &jt, jn)?,
            broker::read_all(bootstrap, &rt, rn)?,
        );
        // Kafka stamps session changelog records with the writing record's time,
        // kstreams with the session's end (the state module's docs): restoration reads
        // neither.
        let with_time = !spec::SESSION_STORES.contains(store);
        match compare::changelogs(&j, &r, with_time) {
            Ok(_) => equal += 1,
            Err(e) => row.failures.push((format!("changelog {store}"), e)),
        }
    }
    if !s.stores.is_empty() {
        row.changelogs = format!("{equal} of {} equal", s.stores.len());
    }
    let inputs: Vec<(String, i32)> = s
        .inputs
        .iter()
        .map(|i| format!("conf-{run}-{i}"))
        .filter_map(|t| topics.get(&t).map(|n| (t, *n)))
        .collect();
    let jm = broker::committed(bootstrap, &app_id(run, s.name, "java"), &inputs)?;
    let rm = broker::committed(bootstrap, &app_id(run, s.name, "rust"), &inputs)?;
    let differing: Vec<String> = jm
        .iter()
        .filter(|(tp, (_, meta))| rm.get(*tp).map(|(_, m)| m) != Some(meta))
        .map(|((t, p), (_, meta))| {
            let ours = rm
                .get(&(t.clone(), *p))
                .map(|(_, m)| m.as_str())
                .unwrap_or("(none)");
            format!("{t}-{p}: Kafka Streams {meta:?} / kstreams {ours:?}")
        })
        .collect();
    if differing.is_empty() {
        row.metadata = format!("{} equal", jm.len());
    } else {
        row.metadata = "differ".into();
        row.failures.push((
            "commit metadata".into(),
            differing.into_iter().take(2).collect::<Vec<_>>().join("; "),
        ));
    }
    Ok(row)
}
