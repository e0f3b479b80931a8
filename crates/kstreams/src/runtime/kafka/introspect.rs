//! What an instance tells about itself: its threads, their tasks, partitions, offsets and
//! lag, stores and restoration, and the threads' loop measurements. Each stream thread
//! publishes its part about once a second; [`KafkaStreams::local_state`] reads the latest.
//!
//! Every type here serializes to the JSON that `/state` serves.
//!
//! [`KafkaStreams::local_state`]: super::KafkaStreams::local_state

pub use super::sensor::Reading;
use super::{ClientMetrics, State};
use crate::runtime::TaskMetrics;
use serde::Serialize;

/// The instance as a whole: the body of `/state`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LocalState {
    /// The application id (the consumer group).
    pub application_id: String,
    /// The client state.
    pub state: State,
    /// Stream threads alive now (a new one is listed in `threads` after its first report).
    pub alive_stream_threads: usize,
    /// The live stream threads, in start order.
    pub threads: Vec<ThreadMetadata>,
    /// Stream threads that failed since start.
    pub failed_stream_threads: u64,
    /// The instance's counters.
    pub metrics: ClientMetrics,
    /// CPU and memory of the process.
    pub process: ProcessMetrics,
}

/// One stream thread, as Kafka Streams' `ThreadMetadata` describes it, with its loop's
/// measurements.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ThreadMetadata {
    /// `<application.id>-StreamThread-<n>`.
    pub thread_name: String,
    /// `REBALANCING`, `RUNNING` or `DEAD`.
    pub thread_state: &'static str,
    /// Its tasks, restoring ones included.
    pub active_tasks: Vec<TaskMetadata>,
    /// Its loop's measurements.
    pub metrics: ThreadMetrics,
}

/// The measurements of a stream thread's loop, named after Kafka Streams' thread metrics.
/// Latencies are in milliseconds; `poll` and `commit` count calls, `process` counts records.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ThreadMetrics {
    /// Polls for a batch (`poll-total`, `poll-rate`, `poll-latency-avg`, `-max`).
    pub poll: Reading,
    /// Records per batch polled (`poll-records-avg`, `-max`).
    pub poll_records: Reading,
    /// Records processed (`process-total`, `-rate`), and the time per record
    /// (`process-latency-avg`, `-max`, the latter per batch average).
    pub process: Reading,
    /// Commits (`commit-total`, `-rate`, `commit-latency-avg`, `-max`).
    pub commit: Reading,
    /// Rounds of wall-clock punctuation (`punctuate-total`, `-rate`, `-latency-avg`, `-max`).
    pub punctuate: Reading,
    /// Shares of the loop's time over the window (`poll-ratio`, `process-ratio`,
    /// `commit-ratio`, `punctuate-ratio`).
    pub poll_ratio: f64,
    /// See `poll_ratio`.
    pub process_ratio: f64,
    /// See `poll_ratio`.
    pub commit_ratio: f64,
    /// See `poll_ratio`.
    pub punctuate_ratio: f64,
    /// Tasks created and closed since the thread started (`task-created-total`,
    /// `task-closed-total`).
    pub task_created_total: u64,
    /// See `task_created_total`.
    pub task_closed_total: u64,
}

/// One task of a thread.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TaskMetadata {
    /// `<subtopology>_<partition>`.
    pub task_id: String,
    /// Its stores are still being restored; it processes nothing yet.
    pub restoring: bool,
    /// The largest timestamp the task has seen; `None` before any.
    pub stream_time: Option<i64>,
    /// Its input partitions.
    pub partitions: Vec<PartitionMetadata>,
    /// Its stores.
    pub stores: Vec<StoreMetadata>,
    /// Its counters, live.
    pub metrics: TaskMetrics,
    /// Records each processor and sink node took (`process-total` of
    /// stream-processor-node-metrics).
    pub processors: Vec<ProcessorMetrics>,
}

/// One processor node of a task.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ProcessorMetrics {
    /// The node's name.
    pub processor_node_id: String,
    /// Records it took.
    pub process_total: u64,
}

/// Where a task stands on one input partition.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PartitionMetadata {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The last committed offset (the next record to read after a restart).
    pub committed_offset: Option<i64>,
    /// The next offset the consumer fetches.
    pub position: Option<i64>,
    /// The partition's end offset, as the last fetch reported it.
    pub end_offset: Option<i64>,
    /// Records behind the end (`records-lag`).
    pub lag: Option<i64>,
    /// The largest timestamp taken from this partition.
    pub partition_time: Option<i64>,
}

/// One store of a task.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StoreMetadata {
    /// The store name.
    pub name: String,
    /// Its changelog topic, when logged.
    pub changelog: Option<String>,
    /// Entries, approximate for persistent stores (`estimate-num-keys`); `None` while it
    /// restores.
    pub approximate_num_entries: Option<u64>,
    /// Restoration, while it runs.
    pub restore: Option<RestoreProgress>,
    /// Operations it took through its typed views since the task was created.
    pub operations: crate::state::StoreOpCounts,
}

/// A store's restoration from one changelog partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RestoreProgress {
    /// The changelog topic.
    pub topic: String,
    /// The changelog partition.
    pub partition: i32,
    /// Where restoration started.
    pub start_offset: i64,
    /// The end offset it restores to.
    pub end_offset: i64,
    /// The next offset to apply.
    pub position: i64,
    /// Records applied so far.
    pub restored: u64,
}

impl RestoreProgress {
    /// Records left (`restore-remaining-records-total`).
    pub fn remaining(&self) -> i64 {
        (self.end_offset - self.position).max(0)
    }
}

/// CPU and memory of the whole process, from the operating system.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[non_exhaustive]
pub struct ProcessMetrics {
    /// User and system CPU time since the process started (`process_cpu_seconds_total`).
    pub cpu_seconds: f64,
    /// Resident memory (`process_resident_memory_bytes`); 0 where unknown.
    pub resident_memory_bytes: u64,
    /// When the process started, in seconds since the epoch; 0 where unknown.
    pub start_time_seconds: f64,
}

impl ProcessMetrics {
    /// Reads them now.
    pub fn now() -> Self {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let cpu_seconds = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            secs(usage.ru_utime) + secs(usage.ru_stime)
        } else {
            0.0
        };
        ProcessMetrics {
            cpu_seconds,
            resident_memory_bytes: resident_bytes().unwrap_or(0),
            start_time_seconds: start_time().unwrap_or(0.0),
        }
    }
}

/// Linux: the second field of `/proc/self/statm`, in pages.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Linux: the process's start (field 22 of `/proc/self/stat`, in clock ticks since boot)
/// plus the boot time (`btime` in `/proc/stat`).
fn start_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after it follow its `)`.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (hz > 0.0).then(|| boot + ticks / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_its_own_cpu_memory_and_start() {
        let before = ProcessMetrics::now();
        let mut x = 0u64;
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = ProcessMetrics::now();
        assert!(
            after.cpu_seconds > before.cpu_seconds,
            "{before:?} {after:?}"
        );
        if cfg!(target_os = "linux") {
            assert!(after.resident_memory_bytes > 1 << 20, "{after:?}");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            assert!(
                after.start_time_seconds > now - 3600.0 && after.start_time_seconds <= now + 1.0,
                "{after:?}"
            );
        }
    }
}
