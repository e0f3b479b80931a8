//! The roles as child processes of one `records` binary, for the benchmarks that run the
//! platform the way it is deployed (`records bench`, `records hot-deploy`): starting and
//! stopping them, their peak memory and CPU time, and how far each consumer group is
//! behind.

use crate::topics;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One role running as a child process. Dropping it stops it with SIGTERM (a clean close:
/// final commit), and kills it if it is still there 30 s later.
pub struct Proc {
    /// Its instance name.
    pub name: String,
    child: Child,
    peak_kib: u64,
    cpu: Duration,
}

impl Proc {
    /// Refreshes the peak resident memory (`VmHWM`) and the CPU time used (user plus
    /// system, every thread) from /proc. A process that has exited keeps its last reading.
    pub fn sample(&mut self) {
        let Ok(process) = procfs::process::Process::new(self.child.id() as i32) else {
            return;
        };
        if let Some(kib) = process.status().ok().and_then(|s| s.vmhwm) {
            self.peak_kib = self.peak_kib.max(kib);
        }
        if let Some(cpu) = cpu_of(&process) {
            self.cpu = self.cpu.max(cpu);
        }
    }

    /// The highest resident memory sampled, MiB.
    pub fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }

    /// The CPU time it had used at the last sample.
    pub fn cpu(&self) -> Duration {
        self.cpu
    }

    /// Stops it with SIGTERM and waits until it has exited (at most 30 s, then SIGKILL).
    /// Returns how long the clean stop took.
    pub fn stop(mut self) -> Duration {
        let started = Instant::now();
        self.terminate();
        started.elapsed()
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// CPU time `process` has used so far: user plus system, every thread.
pub fn cpu_of(process: &procfs::process::Process) -> Option<Duration> {
    let stat = process.stat().ok()?;
    let secs = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
    Some(Duration::from_secs_f64(secs))
}

/// Starts roles as child processes of the running `records` binary, all against one
/// broker with the same partitions and commit interval, each with its own state
/// directory under `dir`.
pub struct Launcher {
    exe: PathBuf,
    bootstrap: String,
    partitions: u32,
    commit_ms: u64,
    /// Where the state directories go.
    pub dir: PathBuf,
    /// Every role serves HTTP on a free port and publishes its status (for
    /// `records dashboard`).
    pub http: bool,
}

impl Launcher {
    /// A launcher of this binary's roles.
    pub fn new(bootstrap: &str, partitions: u32, commit_ms: u64) -> std::io::Result<Launcher> {
        Ok(Launcher {
            exe: std::env::current_exe()?,
            bootstrap: bootstrap.to_string(),
            partitions,
            commit_ms,
            dir: std::env::temp_dir().join(topics::unique("records-procs")),
            http: false,
        })
    }

    /// Starts `records <args>` as instance `name` (its state directory is named after it,
    /// so a restarted instance finds its state again).
    pub fn spawn(&self, args: &[&str], name: &str) -> std::io::Result<Proc> {
        let http: &[&str] = if self.http {
            &["--http", "127.0.0.1:0"]
        } else {
            &[]
        };
        let child = Command::new(&self.exe)
            .args(args)
            .args(http)
            .args(["--bootstrap", &self.bootstrap, "--instance", name])
            .arg("--partitions")
            .arg(self.partitions.to_string())
            .arg("--commit-ms")
            .arg(self.commit_ms.to_string())
            .arg("--state-dir")
            .arg(self.dir.join(name))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Proc {
            name: name.to_string(),
            child,
            peak_kib: 0,
            cpu: Duration::ZERO,
        })
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every partition of `topic` with its low and high watermarks, as `consumer` reads them.
pub(crate) fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
) -> Result<Vec<(i32, i64, i64)>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(|e| format!("reading the partitions of {topic}: {e}"))?;
    metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .map_err(|e| format!("reading the end of {topic}/{}: {e}", p.id()))?;
            Ok((p.id(), low, high))
        })
        .collect()
}

/// Records of `topic` that consumer group `group` has not committed yet, over all
/// partitions (a partition the group never committed counts from its start).
pub fn group_lag(bootstrap: &str, group: &str, topic: &str) -> Result<i64, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .map_err(|e| format!("checking the progress of {group}: {e}"))?;
    let partitions = watermarks(&consumer, topic)?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (p, _, _) in &partitions {
        tpl.add_partition(topic, *p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .map_err(|e| format!("reading the committed offsets of {group}: {e}"))?;
    let mut lag = 0;
    for (p, low, high) in partitions {
        let at = committed
            .find_partition(topic, p)
            .and_then(|e| e.offset().to_raw())
            .filter(|o| *o >= 0)
            .unwrap_or(low);
        lag += (high - at).max(0);
    }
    Ok(lag)
}

/// Waits until `group` has committed everything written to `topic` so far.
pub fn await_caught_up(
    bootstrap: &str,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if group_lag(bootstrap, group, topic)? == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{group} did not catch up with {topic} within {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
