//! Typed handles on the driver's topics and stores.

use crate::driver::Inner;
use kstreams::error::{SerdeError, StreamsError};
use kstreams::processor::Headers;
use kstreams::serde::SharedSerde;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

/// Pipes typed records into one topic. Keyed records go to the partition murmur2 picks for
/// the serialized key, keyless ones round-robin. Each record is processed, including
/// everything it causes downstream, before the call returns.
pub struct TestInputTopic<K, V> {
    inner: Rc<RefCell<Inner>>,
    topic: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    /// Timestamp given to records piped without one; advanced by `auto_advance_ms`.
    time: Cell<i64>,
    auto_advance_ms: Cell<i64>,
}

fn ser<T: 'static>(serde: &SharedSerde<T>, v: &T) -> Result<Option<Vec<u8>>, SerdeError> {
    if serde.is_null(v) {
        return Ok(None);
    }
    let mut b = Vec::new();
    serde.serialize(v, &mut b)?;
    Ok(Some(b))
}

fn serde_failure(topic: &str, e: SerdeError) -> StreamsError {
    StreamsError::Send {
        topic: topic.to_string(),
        reason: format!("the test's own serde failed: {e}"),
    }
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    pub(crate) fn new(
        inner: Rc<RefCell<Inner>>,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        TestInputTopic {
            inner,
            topic: topic.to_string(),
            key_serde,
            value_serde,
            time: Cell::new(0),
            auto_advance_ms: Cell::new(0),
        }
    }

    /// Sets the timestamp of the next record piped without one, and how much it advances
    /// after each.
    pub fn set_time(&self, ms: i64, auto_advance_ms: i64) {
        self.time.set(ms);
        self.auto_advance_ms.set(auto_advance_ms);
    }

    fn next_time(&self) -> i64 {
        let t = self.time.get();
        self.time.set(t + self.auto_advance_ms.get());
        t
    }

    fn send(
        &self,
        key: Option<&K>,
        value: Option<&V>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        let k = key
            .map(|k| ser(&self.key_serde, k))
            .transpose()
            .map_err(|e| serde_failure(&self.topic, e))?
            .flatten();
        let v = value
            .map(|v| ser(&self.value_serde, v))
            .transpose()
            .map_err(|e| serde_failure(&self.topic, e))?
            .flatten();
        self.inner
            .borrow_mut()
            .pipe(&self.topic, k, v, timestamp, headers)
    }

    /// Pipes a keyed record at the topic's current time.
    pub fn pipe_input(&self, key: K, value: V) -> Result<(), StreamsError> {
        let ts = self.next_time();
        self.send(Some(&key), Some(&value), ts, Headers::new())
    }

    /// Pipes a keyed record with a timestamp.
    pub fn pipe_input_at(&self, key: K, value: V, timestamp: i64) -> Result<(), StreamsError> {
        self.send(Some(&key), Some(&value), timestamp, Headers::new())
    }

    /// Pipes a record with a null key.
    pub fn pipe_keyless(&self, value: V) -> Result<(), StreamsError> {
        let ts = self.next_time();
        self.send(None, Some(&value), ts, Headers::new())
    }

    /// Pipes a record with a null value: a tombstone for a table.
    pub fn pipe_tombstone(&self, key: K, timestamp: i64) -> Result<(), StreamsError> {
        self.send(Some(&key), None, timestamp, Headers::new())
    }

    /// Pipes a record with headers.
    pub fn pipe_with_headers(
        &self,
        key: Option<K>,
        value: V,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        self.send(key.as_ref(), Some(&value), timestamp, headers)
    }

    /// Pipes keyed records in order.
    pub fn pipe_key_values(
        &self,
        records: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), StreamsError> {
        for (k, v) in records {
            self.pipe_input(k, v)?;
        }
        Ok(())
    }
}

/// A record read from an output topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord<K, V> {
    /// Key; `None` for a null key.
    pub key: Option<K>,
    /// Value.
    pub value: V,
    /// Timestamp.
    pub timestamp: i64,
    /// Partition it was written to.
    pub partition: u32,
    /// Offset in that partition.
    pub offset: i64,
    /// Headers.
    pub headers: Headers,
}

/// Reads typed records from one topic, in the order they were written, across partitions.
pub struct TestOutputTopic<K, V> {
    inner: Rc<RefCell<Inner>>,
    topic: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    position: Cell<usize>,
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    pub(crate) fn new(
        inner: Rc<RefCell<Inner>>,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        TestOutputTopic {
            inner,
            topic: topic.to_string(),
            key_serde,
            value_serde,
            position: Cell::new(0),
        }
    }

    /// Records not read yet.
    pub fn queue_size(&self) -> usize {
        let inner = self.inner.borrow();
        let topics = inner.topics.borrow();
        topics
            .logs
            .get(&self.topic)
            .map_or(0, |l| l.records.len())
            .saturating_sub(self.position.get())
    }

    /// Whether every record has been read.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }

    /// The next record. Bytes that do not decode are an error naming the record.
    pub fn read_record(&self) -> Option<Result<TestRecord<K, V>, String>> {
        let inner = self.inner.borrow();
        let topics = inner.topics.borrow();
        let r = topics
            .logs
            .get(&self.topic)?
            .records
            .get(self.position.get())?
            .clone();
        self.position.set(self.position.get() + 1);
        let at = format!(
            "{} partition {} offset {}",
            self.topic, r.partition, r.offset
        );
        let key = match &r.key {
            None => None,
            Some(b) => match self.key_serde.deserialize(b) {
                Ok(k) => Some(k),
                Err(e) => return Some(Err(format!("key of {at}: {e}"))),
            },
        };
        let value = match &r.value {
            Some(b) => self.value_serde.deserialize(b),
            None => self.value_serde.null_value(),
        };
        Some(match value {
            Ok(value) => Ok(TestRecord {
                key,
                value,
                timestamp: r.timestamp,
                partition: r.partition,
                offset: r.offset,
                headers: r.headers,
            }),
            Err(e) => Err(format!("value of {at}: {e}")),
        })
    }

    /// All unread records.
    ///
    /// # Panics
    /// If a record does not decode with this topic's serdes: a failed test, with the
    /// record's coordinates.
    pub fn read_records(&self) -> Vec<TestRecord<K, V>> {
        std::iter::from_fn(|| self.read_record())
            .map(|r| r.unwrap_or_else(|e| panic!("undecodable output record: {e}")))
            .collect()
    }

    /// All unread records as `(key, value)`.
    pub fn read_key_values(&self) -> Vec<(Option<K>, V)> {
        self.read_records()
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect()
    }

    /// All unread values.
    pub fn read_values(&self) -> Vec<V> {
        self.read_records().into_iter().map(|r| r.value).collect()
    }

    /// The last value per key among the unread records (null keys skipped).
    pub fn read_key_values_to_map(&self) -> HashMap<K, V>
    where
        K: Eq + Hash,
    {
        self.read_records()
            .into_iter()
            .filter_map(|r| r.key.map(|k| (k, r.value)))
            .collect()
    }
}
