//! Source nodes: where bytes from a topic become typed records.

use super::handlers::RawInput;
use super::node::{forward_all, Child};
use super::{ErrorContext, HandlerResponse, SharedDeserializationHandler};
use super::{Headers, Record, RecordMetadata};
use super::{InvalidTimestamp, TimestampExtractor};
use crate::error::{Field, Result, StreamsError};
use crate::runtime::context::TaskContext;
use crate::serde::{decode, SharedSerde};
use std::sync::Arc;

/// A record as it arrives from a topic, before deserialization.
#[derive(Debug, Clone)]
pub struct InputRecord<'a> {
    /// Topic, fully resolved (internal topics carry the application-id prefix).
    pub topic: &'a str,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
    /// Timestamp.
    pub timestamp: i64,
    /// Key bytes; `None` is Kafka's null.
    pub key: Option<&'a [u8]>,
    /// Value bytes; `None` is Kafka's null.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: Headers,
}

/// The erased entry point of a task: raw input in, typed records out.
pub(crate) trait RawSource {
    fn process_raw(
        &mut self,
        task: &mut TaskContext,
        topic: &Arc<str>,
        input: InputRecord<'_>,
    ) -> Result<()>;
    /// The highest extracted timestamp taken from this source's partition (Kafka Streams'
    /// partition time); -1 before any.
    fn partition_time(&self) -> i64;
    /// Resumes the partition time a previous owner committed.
    fn resume_partition_time(&mut self, time: i64);
}

pub(crate) struct SourceNode<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) handler: SharedDeserializationHandler,
    pub(crate) extractor: Option<Arc<dyn TimestampExtractor<K, V>>>,
    pub(crate) on_invalid: InvalidTimestamp,
    /// Highest timestamp seen on this source's partition (-1 before any).
    pub(crate) partition_time: i64,
    pub(crate) children: Vec<Child<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> SourceNode<K, V> {
    fn failed(
        &self,
        task: &mut TaskContext,
        input: &InputRecord<'_>,
        field: Field,
        source: crate::error::SerdeError,
    ) -> Result<()> {
        let origin = task.origin();
        let err = StreamsError::Deserialization {
            origin: origin.clone(),
            field,
            source,
        };
        match self.handler.handle(&ErrorContext::of(&origin, None), &err) {
            HandlerResponse::Fail => {
                tracing::error!(task = %task.task_id, handler = self.handler.name(), "{err}");
                Err(err)
            }
            HandlerResponse::Continue => {
                tracing::warn!(task = %task.task_id, handler = self.handler.name(), "skipping record: {err}");
                task.metrics.dropped += 1;
                task.metrics.deserialization_errors += 1;
                Ok(())
            }
            HandlerResponse::DeadLetter => {
                task.metrics.deserialization_errors += 1;
                task.dead_letter(
                    RawInput {
                        key: input.key,
                        value: input.value,
                        timestamp: input.timestamp,
                        headers: &input.headers,
                    },
                    &err,
                )
            }
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> RawSource for SourceNode<K, V> {
    fn partition_time(&self) -> i64 {
        self.partition_time
    }

    fn resume_partition_time(&mut self, time: i64) {
        self.partition_time = self.partition_time.max(time);
    }

    fn process_raw(
        &mut self,
        task: &mut TaskContext,
        topic: &Arc<str>,
        input: InputRecord<'_>,
    ) -> Result<()> {
        task.current = Some(RecordMetadata {
            topic: topic.clone(),
            partition: input.partition,
            offset: input.offset,
        });
        let key = match input.key {
            None => None,
            Some(bytes) => match self.key_serde.deserialize(bytes) {
                Ok(k) => Some(k),
                Err(e) => return self.failed(task, &input, Field::Key, e),
            },
        };
        let value = match decode(&*self.value_serde, input.value) {
            Ok(v) => v,
            Err(e) => return self.failed(task, &input, Field::Value, e),
        };
        let mut timestamp = match &self.extractor {
            Some(x) => x.extract(key.as_ref(), &value, input.timestamp, self.partition_time),
            None => input.timestamp,
        };
        if timestamp < 0 {
            match self.on_invalid {
                InvalidTimestamp::UsePartitionTime if self.partition_time >= 0 => {
                    timestamp = self.partition_time
                }
                InvalidTimestamp::SkipAndCount => {
                    tracing::warn!(
                        task = %task.task_id,
                        "skipping record at {} with invalid timestamp {timestamp}",
                        task.origin()
                    );
                    task.metrics.dropped += 1;
                    return Ok(());
                }
                _ => {
                    return Err(StreamsError::InvalidTimestamp {
                        origin: task.origin(),
                        timestamp,
                    })
                }
            }
        }
        self.partition_time = self.partition_time.max(timestamp);
        task.stream_time = task.stream_time.max(timestamp);
        task.current_timestamp = timestamp;
        let record = Record {
            key,
            value,
            timestamp,
            headers: input.headers,
        };
        forward_all(&self.children, task, record)
    }
}
