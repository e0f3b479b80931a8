//! Event time: which timestamp a record carries, and what to do when it has none.

/// Chooses a record's event time (Kafka's `TimestampExtractor`). Implemented for closures
/// `Fn(Option<&K>, &V, i64, i64) -> i64` taking key, value, the record's own timestamp and
/// the partition time (the highest timestamp seen on the partition, or -1). A negative
/// result is an invalid timestamp, handled by [`InvalidTimestamp`].
///
/// ```
/// use kstreams::{Consumed, StreamsBuilder};
/// use kstreams::serde::{I64Serde, StringSerde};
///
/// // The value is the event time, in milliseconds.
/// let builder = StreamsBuilder::new();
/// builder.stream(
///     "events",
///     Consumed::with(StringSerde, I64Serde)
///         .with_timestamp_extractor(|_: Option<&String>, v: &i64, _record_ts: i64, _partition_ts: i64| *v),
/// );
/// ```
pub trait TimestampExtractor<K, V>: Send + Sync + 'static {
    /// The event time of this record.
    fn extract(
        &self,
        key: Option<&K>,
        value: &V,
        record_timestamp: i64,
        partition_time: i64,
    ) -> i64;
}

impl<K, V, F> TimestampExtractor<K, V> for F
where
    F: Fn(Option<&K>, &V, i64, i64) -> i64 + Send + Sync + 'static,
{
    fn extract(
        &self,
        key: Option<&K>,
        value: &V,
        record_timestamp: i64,
        partition_time: i64,
    ) -> i64 {
        self(key, value, record_timestamp, partition_time)
    }
}

/// What to do with a record whose timestamp is negative (none, or an extractor's refusal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidTimestamp {
    /// Stop with an error naming topic, partition and offset (Kafka's default,
    /// `FailOnInvalidTimestamp`).
    #[default]
    Fail,
    /// Drop the record, log it and count it (`LogAndSkipOnInvalidTimestamp`).
    SkipAndCount,
    /// Use the partition time, the highest timestamp seen on the partition; fail when
    /// there is none yet (`UsePartitionTimeOnInvalidTimestamp`).
    UsePartitionTime,
}
