//! Per-task counters. A later issue exports them; today they are read by tests and the driver.

/// Counters of one task, named after Kafka Streams' task metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}
