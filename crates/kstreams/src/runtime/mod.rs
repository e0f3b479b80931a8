//! Running topologies: [`kafka::KafkaStreams`] on a cluster, task ids and metrics, and
//! Kafka's default partitioner.
//!
//! Underneath, a task is one subtopology instantiated for one partition. Its step
//! (process one raw record, then punctuate) is the same under the test driver
//! (`kstreams-testkit`) and the Kafka runtime; only where its output goes differs.

pub(crate) mod collector;
pub(crate) mod context;
pub mod kafka;
mod metrics;
pub mod partitioner;
pub(crate) mod punctuation;
pub(crate) mod task;

pub(crate) use crate::processor::source::InputRecord;
pub use metrics::TaskMetrics;
pub(crate) use task::{Task, TaskConfig};

use std::fmt;

/// Identifies a task: subtopology and partition. Prints as Kafka Streams does, `0_1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The subtopology.
    pub subtopology: u32,
    /// The partition.
    pub partition: u32,
}

impl TaskId {
    /// A task id.
    pub fn new(subtopology: u32, partition: u32) -> Self {
        TaskId {
            subtopology,
            partition,
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}
