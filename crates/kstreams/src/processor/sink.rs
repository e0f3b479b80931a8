//! Sink nodes: where typed records become bytes for a topic.

use super::node::Node;
use super::{ProductionResponse, Record};
use crate::error::{Field, Result, StreamsError};
use crate::runtime::collector::OutgoingRecord;
use crate::runtime::context::TaskContext;
use crate::serde::{encode, SharedSerde};
use std::sync::Arc;

/// Chooses the output topic per record (Kafka's `TopicNameExtractor`). Implemented for
/// closures `Fn(Option<&K>, &V) -> String`.
pub trait TopicNameExtractor<K, V>: Send + Sync + 'static {
    /// The topic for this record.
    fn extract(&self, key: Option<&K>, value: &V) -> String;
}

impl<K, V, F> TopicNameExtractor<K, V> for F
where
    F: Fn(Option<&K>, &V) -> String + Send + Sync + 'static,
{
    fn extract(&self, key: Option<&K>, value: &V) -> String {
        self(key, value)
    }
}

/// Chooses the output partition per record (Kafka's `StreamPartitioner`). Implemented for
/// closures `Fn(&str, Option<&K>, &V, u32) -> Option<u32>`. `None` falls back to murmur2
/// of the serialized key, like the Java producer.
pub trait StreamPartitioner<K, V>: Send + Sync + 'static {
    /// The partition in `0..num_partitions`, or `None` for the default.
    fn partition(
        &self,
        topic: &str,
        key: Option<&K>,
        value: &V,
        num_partitions: u32,
    ) -> Option<u32>;
}

impl<K, V, F> StreamPartitioner<K, V> for F
where
    F: Fn(&str, Option<&K>, &V, u32) -> Option<u32> + Send + Sync + 'static,
{
    fn partition(
        &self,
        topic: &str,
        key: Option<&K>,
        value: &V,
        num_partitions: u32,
    ) -> Option<u32> {
        self(topic, key, value, num_partitions)
    }
}

pub(crate) enum SinkTopic<K, V> {
    Fixed(Arc<str>),
    Dynamic(Arc<dyn TopicNameExtractor<K, V>>),
}

pub(crate) struct SinkNode<K, V> {
    pub(crate) topic: SinkTopic<K, V>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
    pub(crate) key_buf: Vec<u8>,
    pub(crate) value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> Node<K, V> for SinkNode<K, V> {
    fn process(&mut self, task: &mut TaskContext, record: Record<K, V>) -> Result<()> {
        let result = self.send(task, record);
        let response = match &result {
            Err(err @ StreamsError::Serialization { topic, .. }) => task
                .production_handler
                .handle_serialization_error(topic, err),
            Err(err @ StreamsError::Send { topic, .. }) => {
                task.production_handler.handle(topic, err)
            }
            Ok(()) => {
                task.metrics.produced += 1;
                return result;
            }
            _ => return result,
        };
        match (response, result) {
            (ProductionResponse::Continue, Err(err)) => {
                tracing::warn!(
                    handler = task.production_handler.name(),
                    "skipping output record (input at {}): {err}",
                    task.origin()
                );
                task.metrics.dropped += 1;
                task.metrics.production_errors += 1;
                Ok(())
            }
            (_, result) => result,
        }
    }
}

impl<K: 'static, V: 'static> SinkNode<K, V> {
    fn send(&mut self, task: &mut TaskContext, record: Record<K, V>) -> Result<()> {
        let dynamic;
        let topic: &str = match &self.topic {
            SinkTopic::Fixed(t) => t,
            SinkTopic::Dynamic(x) => {
                dynamic = x.extract(record.key.as_ref(), &record.value);
                &dynamic
            }
        };
        let ser_err = |task: &TaskContext, field, source| StreamsError::Serialization {
            topic: topic.to_string(),
            origin: task.origin(),
            field,
            source,
        };
        let has_key = match &record.key {
            None => false,
            Some(k) => encode(&*self.key_serde, k, &mut self.key_buf)
                .map_err(|e| ser_err(task, Field::Key, e))?,
        };
        let has_value = encode(&*self.value_serde, &record.value, &mut self.value_buf)
            .map_err(|e| ser_err(task, Field::Value, e))?;
        let partition = match &self.partitioner {
            // A windowed key goes to its base key's partition (Kafka Streams'
            // WindowedStreamPartitioner); any other key to murmur2 of all of it, which the
            // producer computes.
            // The partition count is looked up only for a windowed key: the lookup hashes the
            // topic's name, a cost every other record would pay for nothing.
            None if has_key => {
                let base = self.key_serde.partition_key(&self.key_buf);
                if base.len() < self.key_buf.len() {
                    task.collector
                        .partition_count(topic)
                        .map(|n| crate::runtime::partitioner::partition_for_key(base, n))
                } else {
                    None
                }
            }
            None => None,
            Some(p) => match task.collector.partition_count(topic) {
                Some(n) => p.partition(topic, record.key.as_ref(), &record.value, n),
                None => {
                    return Err(StreamsError::Send {
                        topic: topic.to_string(),
                        reason: "partition count unknown, so the custom partitioner cannot run"
                            .into(),
                    })
                }
            },
        };
        task.collector.send(OutgoingRecord {
            topic,
            partition,
            key: has_key.then_some(self.key_buf.as_slice()),
            value: has_value.then_some(self.value_buf.as_slice()),
            timestamp: record.timestamp,
            headers: &record.headers,
        })
    }
}
