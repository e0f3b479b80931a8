//! Records as processors see them.

use std::sync::Arc;

/// One record header. Kafka allows repeated keys and null values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header payload; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
}

/// Record headers, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }
    /// Appends a header.
    pub fn add(&mut self, key: impl Into<String>, value: Option<Vec<u8>>) -> &mut Self {
        self.0.push(Header {
            key: key.into(),
            value,
        });
        self
    }
    /// The last header with this name, as Kafka's `lastHeader`.
    pub fn last(&self, key: &str) -> Option<&Header> {
        self.0.iter().rev().find(|h| h.key == key)
    }
    /// Iterates in wire order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }
    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A typed record flowing between processors.
///
/// The key is optional because Kafka Streams gives null keys a meaning: aggregations and
/// joins drop records with a null key. Tables never have null keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// The key; `None` is Kafka's null key.
    pub key: Option<K>,
    /// The value.
    pub value: V,
    /// Event time in milliseconds since the epoch. Outputs inherit it from their input.
    pub timestamp: i64,
    /// Headers, passed through unchanged unless a processor edits them.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record with no headers.
    pub fn new(key: Option<K>, value: V, timestamp: i64) -> Self {
        Record {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }
    /// The same record with another key.
    pub fn with_key<K2>(self, key: Option<K2>) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }
    /// The same record with another value.
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }
    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }
}

/// Where the record being processed came from. Absent during wall-clock punctuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Source topic (with the application-id prefix for internal topics).
    pub topic: Arc<str>,
    /// Source partition.
    pub partition: u32,
    /// Offset in the source partition.
    pub offset: i64,
}

/// A change to one key of a table: what KTable nodes forward to each other, like Kafka
/// Streams' `Change<V>` with old values enabled. `None` means absent (or deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value after the change.
    pub new: Option<V>,
    /// The value before the change.
    pub old: Option<V>,
}

impl<V> Change<V> {
    /// A change from `old` to `new`.
    pub fn new(new: Option<V>, old: Option<V>) -> Self {
        Change { new, old }
    }
}
