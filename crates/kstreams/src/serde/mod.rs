//! Serializers and deserializers.
//!
//! Serdes run only at the edges of a task: sources, sinks and state stores. Between
//! processors records travel as typed values. The built-in serdes encode numbers big-endian,
//! byte for byte like Kafka's Java serializers, so a kstreams app and a Java app can share
//! topics.
//!
//! Kafka's null is not a value of `String` or `i64`. A serde says how its type represents
//! null: by default it cannot ([`Serde::null_value`] fails), and [`Nullable`] maps null to
//! `None`. Keys are nullable at the record level instead (`Record::key` is an `Option`),
//! because Kafka Streams gives null keys a meaning of their own: aggregations and joins
//! skip them.
//!
//! ```
//! use kstreams::serde::{I64Serde, Nullable, Serde, StringSerde};
//!
//! let mut buf = Vec::new();
//! I64Serde.serialize(&42, &mut buf).unwrap();
//! assert_eq!(buf, 42i64.to_be_bytes());
//! assert_eq!(StringSerde.deserialize(b"abc").unwrap(), "abc");
//! assert_eq!(Nullable(I64Serde).null_value().unwrap(), None);
//! ```

mod change;
mod json;
mod nullable;
mod primitives;

pub use change::ChangeSerde;
pub use json::JsonSerde;
pub use nullable::Nullable;
pub use primitives::{BytesSerde, F64Serde, I32Serde, I64Serde, StringSerde, U64Serde, UnitSerde};

use crate::error::SerdeError;
use std::sync::Arc;

/// Converts values of `T` to and from Kafka's bytes.
///
/// `serialize` appends to a caller-owned buffer, so the hot path reuses one allocation.
pub trait Serde<T>: Send + Sync + 'static {
    /// Appends the encoding of `value` to `out`.
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError>;

    /// Decodes a non-null payload.
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError>;

    /// The value Kafka's null decodes to. By default null is not a value of `T`.
    fn null_value(&self) -> Result<T, SerdeError> {
        Err(SerdeError::UnexpectedNull {
            expected: std::any::type_name::<T>(),
        })
    }

    /// Whether `value` is written as Kafka's null (no payload) rather than as bytes.
    fn is_null(&self, _value: &T) -> bool {
        false
    }

    /// The part of a serialized key that picks its partition when no partitioner is given:
    /// all of it by default. Windowed key serdes give the key without its window, as Kafka
    /// Streams' `WindowedStreamPartitioner` does, so that every window of a key lands in
    /// that key's partition.
    fn partition_key<'a>(&self, serialized: &'a [u8]) -> &'a [u8] {
        serialized
    }
}

/// A shared, type-erased serde, as stored in topologies.
pub type SharedSerde<T> = Arc<dyn Serde<T>>;

impl<T, S: Serde<T> + ?Sized> Serde<T> for Arc<S> {
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        (**self).serialize(value, out)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        (**self).deserialize(bytes)
    }
    fn null_value(&self) -> Result<T, SerdeError> {
        (**self).null_value()
    }
    fn is_null(&self, value: &T) -> bool {
        (**self).is_null(value)
    }
    fn partition_key<'a>(&self, serialized: &'a [u8]) -> &'a [u8] {
        (**self).partition_key(serialized)
    }
}

/// Decodes an optional payload: `None` is Kafka's null.
pub(crate) fn decode<T: 'static>(
    serde: &dyn Serde<T>,
    bytes: Option<&[u8]>,
) -> Result<T, SerdeError> {
    match bytes {
        Some(b) => serde.deserialize(b),
        None => serde.null_value(),
    }
}

/// Encodes `value` into `buf` (cleared first). Returns `false` when the value is Kafka's null.
pub(crate) fn encode<T: 'static>(
    serde: &dyn Serde<T>,
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<bool, SerdeError> {
    buf.clear();
    if serde.is_null(value) {
        return Ok(false);
    }
    serde.serialize(value, buf)?;
    Ok(true)
}
