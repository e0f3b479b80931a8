//! The per-task state that every processor call sees.

use super::collector::RecordCollector;
use super::metrics::TaskMetrics;
use super::punctuation::Schedules;
use crate::error::{Origin, StreamsError};
use crate::processor::{
    dead_letter_headers, dead_letter_record, RawInput, RecordMetadata, SharedProcessingHandler,
    SharedProductionHandler,
};
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
    /// The stream time resumed from a previous owner's commit (`i64::MIN` if none).
    pub(crate) resumed_stream_time: i64,
    /// Processors' progress, committed with the offsets and resumed from them (Kafka
    /// Streams' `ProcessorMetadata`): emit-final aggregations keep their last close time.
    pub(crate) processor_metadata: std::collections::BTreeMap<String, i64>,
    /// Wall-clock time in milliseconds, as the driver or the runtime last set it.
    pub(crate) wall_clock_ms: i64,
    pub(crate) collector: Box<dyn RecordCollector>,
    pub(crate) stores: StoreRegistry,
    pub(crate) schedules: Schedules,
    pub(crate) metrics: TaskMetrics,
    pub(crate) globals: Option<Arc<crate::topology::GlobalStores>>,
    pub(crate) processing_handler: SharedProcessingHandler,
    pub(crate) production_handler: SharedProductionHandler,
    /// Where dead-letter handlers send failed records.
    pub(crate) dead_letter_topic: Option<Arc<str>>,
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

    /// Sends the raw input that failed with `err` to the dead-letter topic and counts it.
    pub(crate) fn dead_letter(
        &mut self,
        input: RawInput<'_>,
        err: &StreamsError,
    ) -> Result<(), StreamsError> {
        let Some(topic) = self.dead_letter_topic.clone() else {
            return Err(StreamsError::Config(format!(
                "a handler chose the dead-letter topic for a failed record, but none is configured \
                 (set dead_letter_topic); the record failed with: {err}"
            )));
        };
        tracing::warn!(task = %self.task_id, "sending record to dead-letter topic {topic}: {err}");
        let headers = dead_letter_headers(input.headers, &self.origin(), err);
        self.collector
            .send(dead_letter_record(&topic, input, &headers))?;
        self.metrics.dropped += 1;
        self.metrics.dead_lettered += 1;
        Ok(())
    }
}
