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
//! The handlers are traits with defaulted methods, as Kafka Streams' handler interfaces
//! are: implement one to decide per record (by error kind, topic, processor), or use a
//! built-in choice, [`LogAndFail`] (the default), [`LogAndContinue`] or [`DeadLetter`].
//!
//! ```
//! use kstreams::processor::{
//!     ErrorContext, HandlerResponse, LogAndContinue, ProcessingExceptionHandler,
//! };
//! use kstreams::runtime::kafka::StreamsConfig;
//! use kstreams::StreamsError;
//!
//! /// Skips records of the `audit` topic that fail, and fails on any other.
//! struct SkipAudit;
//!
//! impl ProcessingExceptionHandler for SkipAudit {
//!     fn handle(&self, ctx: &ErrorContext<'_>, _error: &StreamsError) -> HandlerResponse {
//!         if ctx.topic == "audit" {
//!             HandlerResponse::Continue
//!         } else {
//!             HandlerResponse::Fail
//!         }
//!     }
//! }
//!
//! let config = StreamsConfig::new("records-ingest", "127.0.0.1:9092")
//!     .deserialization_handler(LogAndContinue)
//!     .processing_handler(SkipAudit)
//!     .dead_letter_topic("records-ingest-dlq");
//! assert_eq!(config.dead_letter_topic.as_deref(), Some("records-ingest-dlq"));
//! ```

use crate::error::{Origin, StreamsError};
use crate::processor::Headers;
use crate::runtime::collector::OutgoingRecord;
use std::error::Error as _;
use std::sync::Arc;

/// What a deserialization or processing handler decides for a failed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerResponse {
    /// Stop processing with the error (the thread fails; its handler decides what follows).
    Fail,
    /// Log, count the record in `dropped` and the error's counter, and go on.
    Continue,
    /// Send the raw input record to the dead-letter topic (KIP-1034), count it in
    /// `dropped`, the error's counter and `dead_lettered`, and go on. Needs
    /// `StreamsConfig::dead_letter_topic`; without an input record (a punctuation) it
    /// continues.
    DeadLetter,
}

/// What a production handler decides for an output record that could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProductionResponse {
    /// Stop processing; offsets past the record are not committed.
    Fail,
    /// Log, count the record in `dropped` and `production_errors`, and go on.
    Continue,
}

/// Where a failure happened.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ErrorContext<'a> {
    /// The input record's topic (empty for a punctuation).
    pub topic: &'a str,
    /// Its partition.
    pub partition: u32,
    /// Its offset (-1 for a punctuation).
    pub offset: i64,
    /// The processor that failed, when one did.
    pub processor: Option<&'a str>,
}

impl<'a> ErrorContext<'a> {
    pub(crate) fn of(origin: &'a Origin, processor: Option<&'a str>) -> Self {
        ErrorContext {
            topic: &origin.topic,
            partition: origin.partition,
            offset: origin.offset,
            processor,
        }
    }
}

/// Decides what happens to a record whose key or value cannot be deserialized (Kafka's
/// `DeserializationExceptionHandler`).
pub trait DeserializationExceptionHandler: Send + Sync + 'static {
    /// The name logs and `Debug` output show; by default the type's name.
    fn name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
    /// The decision; by default fail, as Kafka's `LogAndFailExceptionHandler`.
    fn handle(&self, context: &ErrorContext<'_>, error: &StreamsError) -> HandlerResponse {
        let _ = (context, error);
        HandlerResponse::Fail
    }
    /// Whether [`handle`](Self::handle) may answer [`HandlerResponse::DeadLetter`]: start-up
    /// then requires a dead-letter topic.
    fn may_dead_letter(&self) -> bool {
        false
    }
}

/// Decides what happens when user code fails: a processor returns an error or panics
/// (KIP-1033), a state store fails on a record, or a punctuation fails (Kafka's
/// `ProcessingExceptionHandler`). The handler runs at the task, so `Continue` and
/// `DeadLetter` skip the rest of that record's way through the subtopology: outputs its
/// earlier branches already sent stay sent.
pub trait ProcessingExceptionHandler: Send + Sync + 'static {
    /// The name logs and `Debug` output show; by default the type's name.
    fn name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
    /// The decision; by default fail.
    fn handle(&self, context: &ErrorContext<'_>, error: &StreamsError) -> HandlerResponse {
        let _ = (context, error);
        HandlerResponse::Fail
    }
    /// Whether [`handle`](Self::handle) may answer [`HandlerResponse::DeadLetter`]: the
    /// input's headers are then kept for the dead-letter record, and start-up requires a
    /// dead-letter topic.
    fn may_dead_letter(&self) -> bool {
        false
    }
}

/// Decides what happens when an output record cannot be produced: its key or value fails
/// to serialize (KIP-399), the producer refuses it, or the broker rejects its delivery
/// (Kafka's `ProductionExceptionHandler`). Changelog records never go through it: skipping
/// one would make a store and its changelog disagree. Under exactly-once a rejected delivery
/// fails the transaction, which is aborted and retried whatever the handler says.
pub trait ProductionExceptionHandler: Send + Sync + 'static {
    /// The name logs and `Debug` output show; by default the type's name.
    fn name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
    /// The decision for a record that reached the producer; by default fail.
    fn handle(&self, topic: &str, error: &StreamsError) -> ProductionResponse {
        let _ = (topic, error);
        ProductionResponse::Fail
    }
    /// The decision for a record that could not be serialized; by default the same as
    /// [`handle`](Self::handle).
    fn handle_serialization_error(&self, topic: &str, error: &StreamsError) -> ProductionResponse {
        self.handle(topic, error)
    }
}

/// Fails on every error (Kafka's `LogAndFailExceptionHandler`, and the default of every
/// handler).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogAndFail;

/// Logs, counts and skips every failed record (Kafka's `LogAndContinueExceptionHandler`;
/// as a production handler, it skips records that cannot be produced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogAndContinue;

/// Sends every failed input record to the dead-letter topic, with KIP-1034's headers.
/// Global tables have no producer: there it logs and continues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadLetter;

impl DeserializationExceptionHandler for LogAndFail {}
impl ProcessingExceptionHandler for LogAndFail {}
impl ProductionExceptionHandler for LogAndFail {}

impl DeserializationExceptionHandler for LogAndContinue {
    fn handle(&self, _: &ErrorContext<'_>, _: &StreamsError) -> HandlerResponse {
        HandlerResponse::Continue
    }
}
impl ProcessingExceptionHandler for LogAndContinue {
    fn handle(&self, _: &ErrorContext<'_>, _: &StreamsError) -> HandlerResponse {
        HandlerResponse::Continue
    }
}
impl ProductionExceptionHandler for LogAndContinue {
    fn handle(&self, _: &str, _: &StreamsError) -> ProductionResponse {
        ProductionResponse::Continue
    }
}

impl DeserializationExceptionHandler for DeadLetter {
    fn handle(&self, _: &ErrorContext<'_>, _: &StreamsError) -> HandlerResponse {
        HandlerResponse::DeadLetter
    }
    fn may_dead_letter(&self) -> bool {
        true
    }
}
impl ProcessingExceptionHandler for DeadLetter {
    fn handle(&self, _: &ErrorContext<'_>, _: &StreamsError) -> HandlerResponse {
        HandlerResponse::DeadLetter
    }
    fn may_dead_letter(&self) -> bool {
        true
    }
}

/// A shared deserialization handler, as configurations keep it.
pub type SharedDeserializationHandler = Arc<dyn DeserializationExceptionHandler>;
/// A shared processing handler.
pub type SharedProcessingHandler = Arc<dyn ProcessingExceptionHandler>;
/// A shared production handler.
pub type SharedProductionHandler = Arc<dyn ProductionExceptionHandler>;

/// `kstreams::processor::handlers::LogAndContinue` → `LogAndContinue`; generic arguments
/// keep their paths, which is enough to tell handlers apart.
fn short_type_name(full: &'static str) -> &'static str {
    let plain = full.split('<').next().unwrap_or(full);
    match plain.rfind("::") {
        Some(i) if plain.len() == full.len() => &full[i + 2..],
        _ => full,
    }
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
