//! `records`: the customer-records platform. `records demo` runs everything in one
//! process; every role can also run as its own process against one broker.

use clap::Parser;
use kstreams::runtime::kafka::{wait_for_shutdown_signal, Admin};
use records::cli::{Cli, Command, Connect};
use records::demo::{self, DemoConfig};
use records::detectors;
use records::generate::GeneratorConfig;
use records::metrics;
use records::notify::NotifyConfig;
use records::roles::{self, RoleError, RoleSettings};
use records::webhook::{self, Deliveries};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Every role allocates per record (decoded records, store keys and values, changelog
/// copies) across a stream thread and librdkafka's threads; mimalloc's per-thread free lists
/// cost less than glibc's arenas there (measured in the README's volume section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options `arena_eager_commit` and `purge_delay` (their places in `mi_option_t`
/// of mimalloc 3, which libmimalloc-sys builds; its bindings name neither).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Gives memory back to the system as soon as it is free, and commits arena memory only as
/// it is used: ingest's peak RSS over 2M records fell from 345-361 MiB with mimalloc's
/// defaults to about 300 MiB, for about a tenth of the CPU mimalloc saved (README).
fn tune_allocator() {
    // SAFETY: mi_option_set only stores an option's value; both exist in mimalloc 3.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The error and its causes, as sentences (not Debug).
            let mut message = format!("records: {e}");
            let mut cause = e.source();
            while let Some(c) = cause {
                message.push_str(&format!(": {c}"));
                cause = c.source();
            }
            eprintln!("{message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
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
                &|| Ok(()),
            )?;
            println!("{report}");
        }
        Command::Bench {
            bootstrap,
            records,
            customers,
            partitions,
            commit_ms,
            rate,
        } => records::bench::run(
            &bootstrap,
            partitions,
            commit_ms,
            rate,
            GeneratorConfig {
                records,
                customers,
                ..Default::default()
            },
        )?,
        Command::HotDeploy {
            bootstrap,
            rate,
            phase_secs,
            customers,
            partitions,
            commit_ms,
            dashboard,
        } => records::hotdeploy::run(records::hotdeploy::HotDeployConfig {
            bootstrap,
            partitions,
            commit_ms,
            rate,
            phase: std::time::Duration::from_secs(phase_secs),
            customers,
            dashboard,
        })?,
        Command::Replay {
            name,
            connect,
            records,
            follow_secs,
        } => {
            let admin = Admin::new(&connect.bootstrap)?;
            let replay = records::replay::Replay::start(&connect.settings(), &admin, &name)?;
            let report = replay.await_history(records, std::time::Duration::from_secs(24 * 3600));
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    replay.stop();
                    return Err(e);
                }
            };
            records::replay::print(&name, &report);
            std::thread::sleep(std::time::Duration::from_secs(follow_secs));
            let (live, alerts) = replay.stop();
            println!(
                "then {live} live records; {alerts} alerts to {}",
                records::replay::OUTPUT
            );
        }
        Command::Ingest { connect } => run_role(&connect, roles::ingest)?,
        Command::Offline {
            detector,
            dir,
            records,
            customers,
            seed,
            anomaly,
            lookalike,
            partitions,
        } => {
            let d = find_detector(&detector)?;
            let sample = records::offline::sample(GeneratorConfig {
                seed,
                records,
                customers,
                anomaly,
                lookalike,
                ..Default::default()
            });
            let alerts = records::offline::run(d.as_ref(), &sample.enriched, partitions)?;
            std::fs::create_dir_all(&dir)?;
            records::offline::write_lines(&dir.join("enriched.jsonl"), &sample.enriched)?;
            records::offline::write_lines(&dir.join("alerts.jsonl"), &alerts)?;
            println!(
                "{detector}: {} records in, {} alerts out, in {}",
                sample.enriched.len(),
                alerts.len(),
                dir.display()
            );
        }
        Command::Detector {
            python: Some(script),
            connect,
            ..
        } => return Err(exec_python_detector(&script, &connect).into()),
        Command::Detector {
            name: Some(name),
            connect,
            ..
        } => {
            let d = find_detector(&name)?;
            run_role(&connect, |s, b| roles::detector(s, b, d.as_ref()))?
        }
        Command::Detector { .. } => return Err("name a detector, or give --python FILE".into()),
        Command::Notify { connect, webhook } => {
            // Checked before anything starts: a bad URL or header stops here.
            let hook = webhook.webhook()?;
            let deliveries = Arc::new(Deliveries::default());
            let extra = if hook.is_some() {
                deliveries.counters()
            } else {
                Vec::new()
            };
            let bootstrap = connect.bootstrap.clone();
            run_role_with(
                &connect,
                |s, a| roles::notify(s, a, NotifyConfig::default(), extra),
                move || {
                    let Some(hook) = hook else { return Ok(None) };
                    let stop = Arc::new(AtomicBool::new(false));
                    eprintln!("notify: delivering notifications to {}", hook.endpoint());
                    let thread = webhook::spawn(&bootstrap, hook, deliveries, stop.clone())?;
                    Ok(Some((stop, thread)))
                },
            )?
        }
        Command::MetricsAgg { connect, listen } => {
            let settings = connect.settings();
            let admin = Admin::new(&connect.bootstrap)?;
            let running = roles::metrics_agg(&settings, &admin)?;
            let stop = Arc::new(AtomicBool::new(false));
            let server =
                match metrics::serve_prometheus(&listen, running.streams.clone(), stop.clone()) {
                    Ok(s) => s,
                    Err(e) => {
                        running.stop();
                        return Err(format!("metrics endpoint on {listen}: {e}").into());
                    }
                };
            eprintln!(
                "metrics-agg: Prometheus endpoint on http://{}/metrics",
                server.local_addr()
            );
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
            rate,
            http,
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
                rate,
                http,
                ..Default::default()
            })?;
            demo::print(&summary);
            if !summary.reconciles() {
                return Err("records in != valid + dead-lettered".into());
            }
        }
        Command::Dashboard { bootstrap, listen } => {
            let dashboard = records::dashboard::Dashboard::serve(&bootstrap, &listen)?;
            eprintln!("records dashboard on http://{}/", dashboard.local_addr());
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone())?;
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(())
}

/// What runs beside a role and stops before it: its stop flag and thread.
type Beside = Option<(Arc<AtomicBool>, JoinHandle<()>)>;

/// Runs a role until SIGINT or SIGTERM, then stops it cleanly (final commit).
fn run_role(
    connect: &Connect,
    start: impl FnOnce(&RoleSettings, &Admin) -> Result<roles::Running, RoleError>,
) -> Result<(), Box<dyn std::error::Error>> {
    run_role_with(connect, start, || Ok(None))
}

/// [`run_role`], with `beside` started once the role runs and stopped before it.
fn run_role_with(
    connect: &Connect,
    start: impl FnOnce(&RoleSettings, &Admin) -> Result<roles::Running, RoleError>,
    beside: impl FnOnce() -> Result<Beside, Box<dyn std::error::Error>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let admin = Admin::new(&connect.bootstrap)?;
    let running = start(&connect.settings(), &admin)?;
    let beside = match beside() {
        Ok(b) => b,
        Err(e) => {
            running.stop();
            return Err(e);
        }
    };
    eprintln!("{} started", running.name);
    wait_for_shutdown_signal(&running.streams);
    if let Some((stop, thread)) = beside {
        stop.store(true, Ordering::Relaxed);
        if thread.join().is_err() {
            tracing::error!("{}: the thread beside it panicked", running.name);
        }
    }
    let failed = running.streams.state() == kstreams::runtime::kafka::State::Error;
    let name = running.name.clone();
    running.stop();
    if failed {
        return Err(format!("{name} stopped after an error").into());
    }
    eprintln!("{name} stopped");
    Ok(())
}

/// Replaces this process with `$RECORDS_PYTHON` (default `python3`) running a detector
/// written in Python, so that signals reach it directly; returns only if that fails.
fn exec_python_detector(script: &std::path::Path, connect: &Connect) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let python = std::env::var_os("RECORDS_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(script)
        .args(["--bootstrap", &connect.bootstrap])
        .args(["--commit-ms", &connect.commit_ms.to_string()]);
    if let Some(dir) = &connect.state_dir {
        cmd.arg("--state-dir").arg(dir);
    }
    let e = cmd.exec();
    std::io::Error::new(
        e.kind(),
        format!(
            "running {} {}: {e}",
            python.to_string_lossy(),
            script.display()
        ),
    )
}

/// The detector called `name`, or an error that lists them all.
fn find_detector(name: &str) -> Result<Box<dyn detectors::Detector>, String> {
    detectors::by_name(name).ok_or_else(|| {
        let names: Vec<_> = detectors::all().iter().map(|d| d.name()).collect();
        format!("no detector {name:?}; there are {names:?}")
    })
}
