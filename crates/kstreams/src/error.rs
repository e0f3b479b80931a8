//! Error types.
//!
//! Every error that concerns a record names where the record came from: topic, partition,
//! offset and, where it applies, the field (key or value). Errors are `#[non_exhaustive]`
//! so that later releases can add variants without breaking matches.
//!
//! [`StreamsError`] is what running a topology returns; its record-level variants carry an
//! [`Origin`] and, for serde failures, a [`Field`]. It wraps a [`SerdeError`] or a
//! [`StoreError`] as its `source`. Each type's documentation shows how to match it.

use std::fmt;

/// An error of the Kafka client underneath (librdkafka), wrapped so that kstreams' API
/// does not change with the client library's.
///
/// Its `Display` is the client's message; [`code_name`](Self::code_name) gives the broker's
/// or librdkafka's error code where there is one, for decisions a message should not drive.
///
/// ```
/// use kstreams::error::{ClientError, StreamsError};
///
/// fn denied(e: &StreamsError) -> bool {
///     matches!(e, StreamsError::Kafka { source, .. }
///         if source.code_name().as_deref() == Some("TopicAuthorizationFailed"))
/// }
/// # let _ = denied;
/// ```
#[derive(Debug, Clone)]
pub struct ClientError(rdkafka::error::KafkaError);

impl ClientError {
    /// The error code's name, as librdkafka names it (`TopicAuthorizationFailed`,
    /// `InvalidProducerEpoch`, `OperationTimedOut`, ...), if the error carries a code.
    pub fn code_name(&self) -> Option<String> {
        self.0.rdkafka_error_code().map(|c| format!("{c:?}"))
    }

    /// Whether the client reports the error as fatal: the client cannot go on and must be
    /// recreated (a fenced transactional producer, for example).
    pub fn is_fatal(&self) -> bool {
        matches!(
            &self.0,
            rdkafka::error::KafkaError::Transaction(e) if e.is_fatal()
        )
    }
}

impl From<rdkafka::error::KafkaError> for ClientError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        ClientError(e)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

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
///
/// Serdes return it; the runtime wraps it in a [`StreamsError`] that says which record and
/// which field ([`StreamsError::Deserialization`], [`StreamsError::Serialization`]), or in
/// a [`StoreError::Serde`]. A serde of your own returns it too, usually as
/// [`SerdeError::Invalid`]:
///
/// ```
/// use kstreams::error::SerdeError;
/// use kstreams::serde::{I64Serde, JsonSerde, Nullable, Serde};
///
/// // "12" as text, where 8 big-endian bytes were expected.
/// match I64Serde.deserialize(b"12") {
///     Err(SerdeError::Invalid { expected, reason }) => {
///         assert_eq!(expected, "i64");
///         println!("rejected: {reason}");
///     }
///     other => panic!("expected an invalid i64, got {other:?}"),
/// }
/// // Kafka's null is no i64, unless the serde is wrapped in `Nullable`.
/// assert!(matches!(I64Serde.null_value(), Err(SerdeError::UnexpectedNull { .. })));
/// assert_eq!(Nullable(I64Serde).null_value()?, None);
/// assert!(matches!(
///     JsonSerde::<Vec<i64>>::new().deserialize(b"[1, 2"),
///     Err(SerdeError::Json(_))
/// ));
/// # Ok::<(), SerdeError>(())
/// ```
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
///
/// Store calls in a processor return it, and `?` passes it on. While a record is being
/// processed, the task reports it as [`StreamsError::Store`], with the [`Origin`] of that
/// record. Here a processor asks for its store with the wrong value type:
///
/// ```
/// use kstreams::error::StoreError;
/// use kstreams::prelude::*;
/// use kstreams::state::Stores;
/// use kstreams_testkit::TestDriver;
///
/// struct Buggy;
///
/// impl Processor<String, String> for Buggy {
///     fn process(
///         &mut self,
///         ctx: &mut ProcessorContext<'_, String, String>,
///         _record: Record<String, String>,
///     ) -> kstreams::Result<()> {
///         // The store holds i64 counts, not strings.
///         let _counts = ctx.key_value_store::<String, String>("counts")?;
///         Ok(())
///     }
/// }
///
/// let builder = StreamsBuilder::new();
/// builder.add_state_store(Stores::key_value_store_builder(
///     Stores::in_memory_key_value_store("counts"),
///     StringSerde,
///     I64Serde,
/// ));
/// builder
///     .stream("events", Consumed::with(StringSerde, StringSerde))
///     .process(|| Buggy, &["counts"]);
/// let driver = TestDriver::new(builder.build()?)?;
/// let events = driver.input_topic("events", StringSerde, StringSerde);
///
/// match events.pipe_input("alice".to_string(), "login".to_string()) {
///     Err(StreamsError::Store { origin, source: StoreError::WrongType { name, .. } }) => {
///         assert_eq!(name, "counts");
///         assert_eq!((origin.topic.as_str(), origin.offset), ("events", 0));
///     }
///     other => panic!("expected a store error, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// A record-level error names the record: its [`Origin`] (topic, partition, offset) and,
/// for serde failures, the [`Field`]. The `Display` text carries the same. Match the
/// variants you handle and keep a wildcard arm, since the enum is `#[non_exhaustive]`.
/// Here a producer wrote an amount as text where the topic holds big-endian `i64`s,
/// and the default handler (`LogAndFail`) stops on it:
///
/// ```
/// use kstreams::error::{Field, SerdeError};
/// use kstreams::prelude::*;
/// use kstreams_testkit::TestDriver;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("amounts", Consumed::with(StringSerde, I64Serde))
///     .to("amounts-copy", Produced::with(StringSerde, I64Serde));
/// let driver = TestDriver::new(builder.build()?)?;
/// driver
///     .input_topic("amounts", StringSerde, I64Serde)
///     .pipe_input("alice".to_string(), 30)?;
///
/// let err = driver
///     .pipe_raw("amounts", Some(b"bob"), Some(b"12"), 1_000)
///     .unwrap_err();
/// match &err {
///     StreamsError::Deserialization { origin, field, source } => {
///         assert_eq!((origin.topic.as_str(), origin.partition, origin.offset), ("amounts", 0, 1));
///         assert_eq!(*field, Field::Value);
///         assert!(matches!(source, SerdeError::Invalid { expected: "i64", .. }));
///     }
///     other => panic!("expected a deserialization error, got {other}"),
/// }
/// assert!(err
///     .to_string()
///     .starts_with("cannot deserialize value of record at topic amounts, partition 0, offset 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// A processor's `init` failed or panicked, so its task cannot start (Kafka Streams
    /// wraps this in a `StreamsException` naming the processor).
    #[error("processor {processor:?} of task {task} failed to initialize: {message}")]
    ProcessorInit {
        /// Processor node name.
        processor: String,
        /// The task, `<subtopology>_<partition>`.
        task: String,
        /// The error `init` returned, or its panic.
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
        source: ClientError,
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
    /// A stream or global thread panicked outside record processing (a client callback,
    /// say; a processor's `init` panicking is [`ProcessorInit`](Self::ProcessorInit), its
    /// `close` panicking is logged): the thread is gone, and the uncaught-exception handler
    /// decides what follows.
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
