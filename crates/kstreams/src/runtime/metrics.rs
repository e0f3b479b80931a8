//! Per-task counters, read by tests, the driver and `KafkaStreams::metrics`.

/// Counters of one task, named after Kafka Streams' task metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TaskMetrics {
    /// Records handed to the task (`process-total`).
    pub processed: u64,
    /// Records dropped anywhere in the task (`dropped-records-total`): bad input skipped
    /// by a log-and-continue handler, null keys at aggregations and joins.
    pub dropped: u64,
    /// Records dropped because they could not be deserialized and the handler continued.
    pub deserialization_errors: u64,
    /// Punctuations run.
    pub punctuations: u64,
    /// Records whose processing failed in user code (an error or a panic) and that the
    /// processing handler skipped or dead-lettered.
    pub processing_errors: u64,
    /// Output records that could not be serialized or sent and that the production handler
    /// skipped.
    pub production_errors: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Records the task's sinks sent (to output and repartition topics; not changelogs
    /// nor dead letters).
    pub produced: u64,
}

impl TaskMetrics {
    /// Adds `other`'s counters to these.
    pub fn add(&mut self, other: &TaskMetrics) {
        self.processed += other.processed;
        self.dropped += other.dropped;
        self.deserialization_errors += other.deserialization_errors;
        self.punctuations += other.punctuations;
        self.processing_errors += other.processing_errors;
        self.production_errors += other.production_errors;
        self.dead_lettered += other.dead_lettered;
        self.produced += other.produced;
    }
}
