//! Where sink nodes send their serialized records.

use crate::error::StreamsError;
use crate::processor::Headers;

/// A serialized record leaving a task for a topic.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRecord<'a> {
    /// Destination topic, fully resolved (internal topics carry the application-id prefix).
    pub topic: &'a str,
    /// Explicit partition from a custom partitioner or a changelog; `None` means the
    /// collector partitions by key with murmur2, like the Java producer.
    pub partition: Option<u32>,
    /// Key bytes; `None` is Kafka's null.
    pub key: Option<&'a [u8]>,
    /// Value bytes; `None` is Kafka's null (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Record timestamp.
    pub timestamp: i64,
    /// Headers.
    pub headers: &'a Headers,
}

/// Receives a task's output. The test driver collects into memory; the Kafka runtime hands
/// records to a producer. One task step feeds both the same way.
pub trait RecordCollector {
    /// Sends one record. Must not block on acknowledgement: the commit path flushes.
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), StreamsError>;

    /// Partition count of `topic`, when known; custom partitioners need it.
    fn partition_count(&self, topic: &str) -> Option<u32>;
}
