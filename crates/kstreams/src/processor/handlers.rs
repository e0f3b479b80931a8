//! What a task does with a record that fails: the three error handlers of Kafka Streams
//! (deserialization, processing, production) and the dead-letter records of KIP-1034.
//!
//! Every choice logs the error with the record's topic, partition and offset, and every
//! skip is counted in [`TaskMetrics`](crate::runtime::TaskMetrics): nothing disappears
//! silently. A dead-letter record carries the input's raw key, value and headers, plus
//! headers naming the error and where the input came from:
//!
//! | header | value (UTF-8) |
//! |---|---|
//! | `__streams.errors.exception` | the error kind, e.g. `Deserialization` |
//! | `__streams.errors.message` | the error message |
//! | `__streams.errors.stacktrace` | the chain of causes, one per line |
//! | `__streams.errors.topic` | source topic |
//! | `__streams.errors.partition` | source partition |
//! | `__streams.errors.offset` | source offset |
//!
//! ```
//! use kstreams::processor::{DeserializationHandler, ProcessingHandler, ProductionHandler};
//! use kstreams::runtime::kafka::StreamsConfig;
//!
//! let config = StreamsConfig::new("records-ingest", "127.0.0.1:9092")
//!     .deserialization_handler(DeserializationHandler::DeadLetter)
//!     .processing_handler(ProcessingHandler::DeadLetter)
//!     .production_handler(ProductionHandler::Continue)
//!     .dead_letter_topic("records-ingest-dlq");
//! assert_eq!(config.dead_letter_topic.as_deref(), Some("records-ingest-dlq"));
//! ```

use crate::error::{Origin, StreamsError};
use crate::processor::Headers;
use crate::runtime::collector::OutgoingRecord;
use std::error::Error as _;

/// What to do with a record whose key or value cannot be deserialized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeserializationHandler {
    /// Stop processing with [`StreamsError::Deserialization`] (Kafka's default,
    /// `LogAndFailExceptionHandler`).
    #[default]
    LogAndFail,
    /// Log a warning, count the record in `dropped` and `deserialization_errors`, and go on
    /// (`LogAndContinueExceptionHandler`).
    LogAndContinue,
    /// Send the raw record to the dead-letter topic (KIP-1034), count it in `dropped`,
    /// `deserialization_errors` and `dead_lettered`, and go on. Needs a dead-letter topic
    /// in the configuration. Global tables have no producer: there it logs and continues.
    DeadLetter,
}

/// What to do when user code in a processor fails on a record: a
/// [`StreamsError::Processing`] returned by a [`Processor`](crate::processor::Processor), or
/// a panic in any closure or processor, which is caught and turned into one (KIP-1033).
///
/// The handler runs at the task, so `LogAndContinue` and `DeadLetter` skip the rest of
/// that record's way through the subtopology: outputs its earlier branches already sent
/// stay sent. (Kafka Streams decides per processor node.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessingHandler {
    /// Stop processing with the error (Kafka's default).
    #[default]
    LogAndFail,
    /// Log, count the record in `dropped` and `processing_errors`, and go on.
    LogAndContinue,
    /// Send the raw input record to the dead-letter topic, count it in `dropped`,
    /// `processing_errors` and `dead_lettered`, and go on.
    DeadLetter,
}

/// What to do when an output record cannot be produced: its key or value fails to
/// serialize (KIP-399), the producer refuses it (too large, unknown topic), or the broker
/// rejects its delivery.
///
/// Changelog records never go through the handler: skipping one would make the store and
/// its changelog disagree, so they always fail. Under exactly-once a rejected delivery
/// fails the transaction, which is aborted and retried whatever the handler says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProductionHandler {
    /// Stop processing (Kafka's default); offsets past the record are not committed.
    #[default]
    Fail,
    /// Log, count the record in `dropped` and `production_errors`, and go on.
    Continue,
}

/// Header names of a dead-letter record (KIP-1034).
pub mod dlq_headers {
    /// The error kind.
    pub const EXCEPTION: &str = "__streams.errors.exception";
    /// The error message.
    pub const MESSAGE: &str = "__streams.errors.message";
    /// The chain of causes.
    pub const STACKTRACE: &str = "__streams.errors.stacktrace";
    /// Source topic.
    pub const TOPIC: &str = "__streams.errors.topic";
    /// Source partition.
    pub const PARTITION: &str = "__streams.errors.partition";
    /// Source offset.
    pub const OFFSET: &str = "__streams.errors.offset";
}

/// The kind of an error, as the `__streams.errors.exception` header names it.
pub(crate) fn error_kind(err: &StreamsError) -> &'static str {
    match err {
        StreamsError::Deserialization { .. } => "Deserialization",
        StreamsError::InvalidTimestamp { .. } => "InvalidTimestamp",
        StreamsError::Serialization { .. } => "Serialization",
        StreamsError::Store { .. } => "Store",
        StreamsError::Processing { .. } => "Processing",
        StreamsError::Send { .. } => "Send",
        _ => "Streams",
    }
}

/// The raw input a dead-letter record is made of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawInput<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) timestamp: i64,
    pub(crate) headers: &'a Headers,
}

/// Builds the headers of a dead-letter record: the input's own, then the error's.
pub(crate) fn dead_letter_headers(input: &Headers, origin: &Origin, err: &StreamsError) -> Headers {
    let mut headers = input.clone();
    let mut causes = String::new();
    let mut source = err.source();
    while let Some(s) = source {
        causes.push_str(&s.to_string());
        causes.push('\n');
        source = s.source();
    }
    let fields = [
        (dlq_headers::EXCEPTION, error_kind(err).to_string()),
        (dlq_headers::MESSAGE, err.to_string()),
        (dlq_headers::STACKTRACE, causes),
        (dlq_headers::TOPIC, origin.topic.clone()),
        (dlq_headers::PARTITION, origin.partition.to_string()),
        (dlq_headers::OFFSET, origin.offset.to_string()),
    ];
    for (k, v) in fields {
        headers.add(k, Some(v.into_bytes()));
    }
    headers
}

/// The dead-letter record for `input`, which failed with `err`, to `topic`. The producer
/// partitions it by key.
pub(crate) fn dead_letter_record<'a>(
    topic: &'a str,
    input: RawInput<'a>,
    headers: &'a Headers,
) -> OutgoingRecord<'a> {
    OutgoingRecord {
        topic,
        partition: None,
        key: input.key,
        value: input.value,
        timestamp: input.timestamp.max(0),
        headers,
    }
}

/// Turns a caught panic's payload into a message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}
