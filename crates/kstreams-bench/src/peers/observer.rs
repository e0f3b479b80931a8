//! Reads a system's output topic while it runs: when the first and the last expected
//! output arrive (and the worker's and broker's CPU at the last), the latency of every
//! record, and the records themselves for the check afterwards.
//!
//! It does no parsing while the run is timed: it copies bytes and reads timestamps, so
//! the CPU it takes from the shared machine stays small and the same for every system.

use super::process::cpu_seconds_of;
use super::workloads::Output;
use super::BenchError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Shared with the thread that drives the run.
#[derive(Debug)]
pub struct Progress {
    /// Outputs read so far.
    pub read: AtomicUsize,
    /// Outputs that complete the run; `usize::MAX` until known.
    pub expected: AtomicUsize,
    /// Set once `read` reached `expected`.
    pub reached: AtomicBool,
    /// Set by the driver to end the observer.
    pub stop: AtomicBool,
    /// Records stamped (create time, ms since the epoch) from this on are latency
    /// samples; `i64::MAX` until the driver starts measuring.
    pub latency_from_ms: AtomicI64,
}

/// A CPU sample of the worker and of the broker.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    /// When it was taken.
    pub at: Option<Instant>,
    /// Worker CPU so far, seconds.
    pub worker: f64,
    /// Broker CPU so far, seconds.
    pub broker: f64,
}

/// What the observer saw.
#[derive(Debug, Default)]
pub struct Observation {
    /// Every output, in partition order.
    pub outputs: Vec<Output>,
    /// When the first output arrived.
    pub first_at: Option<Instant>,
    /// At the output that made the count reach the expected one.
    pub last: CpuSample,
    /// Now minus record timestamp, ms, for records stamped at or after
    /// [`Progress::latency_from_ms`].
    pub latencies_ms: Vec<f64>,
}

/// What to observe.
pub struct ObserverConfig {
    /// Broker.
    pub bootstrap: String,
    /// Output topic.
    pub topic: String,
    /// Its partitions.
    pub partitions: i32,
    /// Worker process.
    pub worker_pid: u32,
    /// Broker process.
    pub broker_pid: Option<u32>,
    /// Extra consumer settings (the same ones the systems get).
    pub consumer_config: Vec<(String, String)>,
}

/// Wall clock, ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// CPU of the worker and the broker now.
pub fn sample(worker: u32, broker: Option<u32>) -> CpuSample {
    CpuSample {
        at: Some(Instant::now()),
        worker: cpu_seconds_of(worker).unwrap_or(f64::NAN),
        broker: broker.and_then(cpu_seconds_of).unwrap_or(f64::NAN),
    }
}

/// Starts reading `config.topic` from the beginning of every partition.
pub fn spawn(
    config: ObserverConfig,
) -> Result<(Arc<Progress>, JoinHandle<Observation>), BenchError> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.bootstrap)
        .set("group.id", format!("observer-{}", config.topic))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in &config.consumer_config {
        cc.set(k, v);
    }
    let consumer: BaseConsumer = cc
        .create()
        .map_err(|e| BenchError::Broker(format!("observer: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..config.partitions {
        tpl.add_partition_offset(&config.topic, p, Offset::Beginning)
            .map_err(|e| BenchError::Broker(format!("observer: {e}")))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| BenchError::Broker(format!("observer: {e}")))?;
    let progress = Arc::new(Progress {
        read: AtomicUsize::new(0),
        expected: AtomicUsize::new(usize::MAX),
        reached: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        latency_from_ms: AtomicI64::new(i64::MAX),
    });
    let shared = progress.clone();
    let handle = std::thread::spawn(move || {
        let mut seen = Observation::default();
        while !shared.stop.load(Ordering::Relaxed) {
            let m = match consumer.poll(std::time::Duration::from_millis(20)) {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!("observer of {}: {e}", config.topic);
                    continue;
                }
                None => {
                    check_reached(&shared, &mut seen, &config);
                    continue;
                }
            };
            if seen.outputs.is_empty() {
                seen.first_at = Some(Instant::now());
            }
            if let Timestamp::CreateTime(t) = m.timestamp() {
                if t >= shared.latency_from_ms.load(Ordering::Relaxed) {
                    seen.latencies_ms.push((now_ms() - t) as f64);
                }
            }
            seen.outputs
                .push((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)));
            shared.read.store(seen.outputs.len(), Ordering::Relaxed);
            check_reached(&shared, &mut seen, &config);
        }
        seen
    });
    Ok((progress, handle))
}

fn check_reached(shared: &Progress, seen: &mut Observation, config: &ObserverConfig) {
    if !shared.reached.load(Ordering::Relaxed)
        && seen.outputs.len() >= shared.expected.load(Ordering::Relaxed)
    {
        seen.last = sample(config.worker_pid, config.broker_pid);
        shared.reached.store(true, Ordering::Release);
    }
}
