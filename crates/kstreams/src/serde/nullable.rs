use super::Serde;
use crate::error::SerdeError;

/// Wraps a serde so that Kafka's null maps to `None`.
///
/// ```
/// use kstreams::serde::{Nullable, Serde, StringSerde};
/// let s = Nullable(StringSerde);
/// assert!(s.is_null(&None));
/// assert_eq!(s.deserialize(b"x").unwrap(), Some("x".to_string()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Nullable<S>(pub S);

impl<T, S: Serde<T>> Serde<Option<T>> for Nullable<S> {
    fn serialize(&self, value: &Option<T>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        match value {
            Some(v) => self.0.serialize(v, out),
            // `is_null` routes None to a null payload before this is reached.
            None => Ok(()),
        }
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Option<T>, SerdeError> {
        self.0.deserialize(bytes).map(Some)
    }
    fn null_value(&self) -> Result<Option<T>, SerdeError> {
        Ok(None)
    }
    fn is_null(&self, value: &Option<T>) -> bool {
        value.is_none()
    }
    fn partition_key<'a>(&self, serialized: &'a [u8]) -> &'a [u8] {
        self.0.partition_key(serialized)
    }
}
