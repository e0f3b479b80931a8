//! Error types.
//!
//! Every error that concerns a record names where the record came from: topic, partition,
//! offset and, where it applies, the field (key or value). Errors are `#[non_exhaustive]`
//! so that later releases can add variants without breaking matches.

use std::fmt;

/// Result alias used throughout kstreams.
pub type Result<T, E = StreamsError> = std::result::Result<T, E>;

/// Which half of a record an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Key => "key",
            Field::Value => "value",
        })
    }
}

/// Where a record came from: the coordinates printed in every record-level error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: u32,
    /// Offset in the source partition.
    pub offset: i64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "topic {}, partition {}, offset {}",
            self.topic, self.partition, self.offset
        )
    }
}

/// A serializer or deserializer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerdeError {
    /// The bytes are not valid for the expected type.
    #[error("invalid {expected}: {reason}")]
    Invalid {
        /// The type the serde expected, e.g. `i64` or `UTF-8 string`.
        expected: &'static str,
        /// Why the bytes were rejected.
        reason: String,
    },
    /// Kafka's null arrived where the type has no null.
    #[error("null where a non-nullable {expected} was expected (wrap the serde in `Nullable` to accept nulls)")]
    UnexpectedNull {
        /// The type the serde expected.
        expected: &'static str,
    },
    /// JSON encoding or decoding failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A state store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No store of that name is connected to the processor or registered in the task.
    #[error("no state store named {0:?} is connected to this processor")]
    NotFound(String),
    /// The store exists but with other key or value types than requested.
    #[error("state store {name:?} holds other types than requested ({requested})")]
    WrongType {
        /// Store name.
        name: String,
        /// The requested key and value types.
        requested: String,
    },
    /// Encoding a key or value for the store failed.
    #[error("state store {store:?}: {field} serde failed: {source}")]
    Serde {
        /// Store name.
        store: String,
        /// Key or value.
        field: Field,
        /// The underlying serde error.
        #[source]
        source: SerdeError,
    },
    /// The storage engine failed.
    #[error("state store {store:?}: {reason}")]
    Engine {
        /// Store name.
        store: String,
        /// What the engine reported.
        reason: String,
    },
    /// The store was closed.
    #[error("state store {0:?} is closed")]
    Closed(String),
}

/// Building a topology failed. Raised by [`StreamsBuilder::build`](crate::StreamsBuilder::build),
/// like Kafka Streams' `TopologyException`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopologyError {
    /// Two nodes share a name.
    #[error("processor name {0:?} is used more than once")]
    DuplicateName(String),
    /// Two stores share a name.
    #[error("state store {0:?} is defined more than once")]
    DuplicateStore(String),
    /// A topic is a source of two different source nodes.
    #[error("topic {0:?} is already a source of another node")]
    DuplicateSourceTopic(String),
    /// A processor refers to a store that was never added.
    #[error("processor {processor:?} uses state store {store:?}, which was never added")]
    UnknownStore {
        /// Processor name.
        processor: String,
        /// Store name.
        store: String,
    },
    /// A stateful operation needs a serde that nobody gave.
    #[error("{operation} needs a {field} serde: pass one through Grouped, Materialized, Joined or Repartitioned")]
    MissingSerde {
        /// The operation that needs it.
        operation: String,
        /// Key or value.
        field: Field,
    },
    /// The topology has no source.
    #[error("the topology has no source topic")]
    Empty,
    /// Anything else that makes the topology invalid.
    #[error("invalid topology: {0}")]
    Invalid(String),
}

/// Errors raised while processing records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamsError {
    /// A record could not be deserialized, and the handler said fail.
    #[error("cannot deserialize {field} of record at {origin}: {source}")]
    Deserialization {
        /// Where the record came from.
        origin: Origin,
        /// Key or value.
        field: Field,
        /// The serde's error.
        #[source]
        source: SerdeError,
    },
    /// A record has no valid timestamp, and the policy said fail.
    #[error("invalid timestamp {timestamp} for record at {origin} (set an extractor or another InvalidTimestamp policy)")]
    InvalidTimestamp {
        /// Where the record came from.
        origin: Origin,
        /// The timestamp found.
        timestamp: i64,
    },
    /// An output record could not be serialized.
    #[error("cannot serialize {field} for topic {topic} (input at {origin}): {source}")]
    Serialization {
        /// Destination topic.
        topic: String,
        /// The input record that caused the output.
        origin: Origin,
        /// Key or value.
        field: Field,
        /// The serde's error.
        #[source]
        source: SerdeError,
    },
    /// A state store failed while processing a record.
    #[error("state store failure while processing record at {origin}: {source}")]
    Store {
        /// The input record being processed.
        origin: Origin,
        /// The store error.
        #[source]
        source: StoreError,
    },
    /// User code in a processor reported an error.
    #[error("processor {processor:?} failed on record at {origin}: {message}")]
    Processing {
        /// Processor node name.
        processor: String,
        /// The input record being processed.
        origin: Origin,
        /// What the processor reported.
        message: String,
    },
    /// The record collector (producer or test sink) refused a record.
    #[error("cannot send to topic {topic}: {reason}")]
    Send {
        /// Destination topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A record was given to a task that does not read its topic.
    #[error("task {task} has no source for topic {topic:?}")]
    UnknownTopic {
        /// Task id.
        task: String,
        /// Topic.
        topic: String,
    },
    /// The topology is invalid.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A Kafka client operation failed.
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A source topic does not exist on the cluster.
    #[error("source topic {0:?} does not exist; create it before starting the application")]
    MissingSourceTopic(String),
    /// Topics that must be co-partitioned have different partition counts (Kafka Streams'
    /// `TopologyException` for co-partitioning).
    #[error("topics {topics:?} must be co-partitioned but have partition counts {counts:?}")]
    NotCopartitioned {
        /// The topics of the group.
        topics: Vec<String>,
        /// Their partition counts.
        counts: Vec<u32>,
    },
    /// An internal topic exists with the wrong partition count.
    #[error("internal topic {topic} has {actual} partitions, expected {expected}")]
    InternalTopicMismatch {
        /// Topic name.
        topic: String,
        /// Partitions found.
        actual: u32,
        /// Partitions required.
        expected: u32,
    },
    /// The configuration does not allow what was asked (e.g. a dead-letter handler with no
    /// dead-letter topic).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The producer was fenced: another producer with the same `transactional.id` started
    /// (a newer instance of this one), so this instance is a zombie and must stop. Its open
    /// transaction is aborted by the broker; nothing it did since the last commit counts.
    #[error("producer fenced (transactional.id {transactional_id}): {reason}")]
    ProducerFenced {
        /// The transactional id that another producer took over.
        transactional_id: String,
        /// What the client reported.
        reason: String,
    },
    /// The operation needs a state the client is not in.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// A state store failed outside record processing (init, flush, close).
    #[error(transparent)]
    StoreLifecycle(#[from] StoreError),
    /// A stream or global thread panicked outside record processing (a processor's `init`
    /// or `close`, a client callback): the thread is gone, and the uncaught-exception
    /// handler decides what follows.
    #[error("thread {thread} panicked: {message}")]
    ThreadPanicked {
        /// The thread's name.
        thread: String,
        /// The panic's message.
        message: String,
    },
    /// A stream thread was replaced too often in a short time (a record or a broker error
    /// that fails every replacement): the client stops instead.
    #[error("stream thread replaced {replacements} times in {window:?}; giving up: {last}")]
    TooManyReplacements {
        /// Replacements in the window.
        replacements: usize,
        /// The window.
        window: std::time::Duration,
        /// The last failure.
        last: String,
    },
}
