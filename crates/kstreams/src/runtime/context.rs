//! The per-task state that every processor call sees.

use super::collector::RecordCollector;
use super::metrics::TaskMetrics;
use super::punctuation::Schedules;
use crate::error::{Origin, StreamsError};
use crate::processor::RecordMetadata;
use crate::runtime::TaskId;
use crate::state::StoreRegistry;
use std::sync::Arc;

/// What a task knows while it runs one step: the record being processed, time, its stores,
/// where outputs go. Processors reach it through [`ProcessorContext`](crate::processor::ProcessorContext).
pub(crate) struct TaskContext {
    pub(crate) task_id: TaskId,
    pub(crate) application_id: Arc<str>,
    /// The input record being processed; `None` during wall-clock punctuation.
    pub(crate) current: Option<RecordMetadata>,
    /// Timestamp of the record being processed (or of the punctuation running).
    pub(crate) current_timestamp: i64,
    /// Highest timestamp this task has seen; `i64::MIN` before the first record.
    pub(crate) stream_time: i64,
    /// Wall-clock time in milliseconds, as the driver or the runtime last set it.
    pub(crate) wall_clock_ms: i64,
    pub(crate) collector: Box<dyn RecordCollector>,
    pub(crate) stores: StoreRegistry,
    pub(crate) schedules: Schedules,
    pub(crate) metrics: TaskMetrics,
    pub(crate) globals: Option<Arc<crate::topology::GlobalStores>>,
}

impl TaskContext {
    /// The coordinates of the record being processed, for error messages.
    pub(crate) fn origin(&self) -> Origin {
        match &self.current {
            Some(m) => Origin {
                topic: m.topic.to_string(),
                partition: m.partition,
                offset: m.offset,
            },
            None => Origin {
                topic: format!("(punctuation in task {})", self.task_id),
                partition: self.task_id.partition,
                offset: -1,
            },
        }
    }

    /// Attaches the current record's coordinates to an error raised below it.
    pub(crate) fn locate(&self, err: StreamsError) -> StreamsError {
        match err {
            StreamsError::StoreLifecycle(source) => StreamsError::Store {
                origin: self.origin(),
                source,
            },
            other => other,
        }
    }
}
