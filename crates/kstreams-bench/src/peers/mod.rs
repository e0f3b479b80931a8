//! kstreams side by side with Kafka Streams, Quix Streams and a raw rdkafka loop, on the
//! same broker.
//!
//! Every run gets fresh topics and a fresh consumer group on one Apache Kafka broker
//! (started with `tools/kafka/run`), the same input, and one system as one worker process.
//! Every system gets the same warm-up under load before the measured span. The driver
//! measures the worker from outside: CPU from `/proc` over the measured span (from the
//! first measured input to the last expected output) and over its whole life (`wait4`),
//! peak RSS from `/proc/<pid>/status`. It reads the output topic as it arrives, and
//! afterwards checks every output record by record, the warm-up's included. See
//! `docs/benchmarks.md` for the command and the figures.

pub mod kafka_streams;
pub mod kstreams_py;
pub mod observer;
pub mod process;
pub mod quix;
pub mod report;
pub mod run;
pub mod workloads;

use std::path::Path;

/// Why a benchmark run could not produce a figure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or socket operation failed.
    #[error("{path}: {source}")]
    Io {
        /// What was being read, written or bound.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A tool the benchmark needs could not be installed.
    #[error("installing {what}: {reason}")]
    Install {
        /// The tool.
        what: String,
        /// Why.
        reason: String,
    },
    /// A process could not be started or reaped.
    #[error("process {what}: {reason}")]
    Spawn {
        /// The process.
        what: String,
        /// Why.
        reason: String,
    },
    /// The broker failed, or a client of it.
    #[error("broker: {0}")]
    Broker(String),
    /// Input records could not be made.
    #[error("input: {0}")]
    Input(String),
    /// A kstreams topology did not build.
    #[error("topology: {0}")]
    Topology(String),
    /// A system stopped, stalled, or wrote the wrong output.
    #[error("{system} on {workload}: {reason}")]
    Run {
        /// The system.
        system: String,
        /// The workload.
        workload: String,
        /// What went wrong, with the tail of the worker's log where it helps.
        reason: String,
    },
}

impl BenchError {
    fn io(path: &Path, source: std::io::Error) -> BenchError {
        BenchError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
