//! The wire format of table changes on repartition topics.

use super::Serde;
use crate::error::SerdeError;
use crate::processor::Change;

/// Encodes a [`Change`] so that a KGroupedTable's repartition topic carries both the
/// subtraction (old value) and the addition (new value).
///
/// Layout: one flag byte (bit 0: new present, bit 1: old present), then, if new is present,
/// its length as a big-endian u32 and its bytes, then the old value's bytes to the end.
/// This is kstreams' own layout, not Kafka Streams' `ChangedSerializer`.
pub struct ChangeSerde<V> {
    inner: std::sync::Arc<dyn Serde<V>>,
}

impl<V> ChangeSerde<V> {
    /// Wraps the serde of the changed values.
    pub fn new(inner: std::sync::Arc<dyn Serde<V>>) -> Self {
        ChangeSerde { inner }
    }
}

const NEW: u8 = 1;
const OLD: u8 = 2;

impl<V: 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize(&self, value: &Change<V>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        let flag_at = out.len();
        out.push(0);
        let mut flags = 0;
        if let Some(new) = &value.new {
            flags |= NEW;
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            self.inner.serialize(new, out)?;
            let len = (out.len() - len_at - 4) as u32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        }
        if let Some(old) = &value.old {
            flags |= OLD;
            self.inner.serialize(old, out)?;
        }
        out[flag_at] = flags;
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Change<V>, SerdeError> {
        let invalid = |reason: &str| SerdeError::Invalid {
            expected: "table change",
            reason: reason.to_string(),
        };
        let (&flags, mut rest) = bytes
            .split_first()
            .ok_or_else(|| invalid("empty payload"))?;
        let mut change = Change {
            new: None,
            old: None,
        };
        if flags & NEW != 0 {
            if rest.len() < 4 {
                return Err(invalid("truncated length"));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            rest = &rest[4..];
            if rest.len() < len {
                return Err(invalid("truncated new value"));
            }
            change.new = Some(self.inner.deserialize(&rest[..len])?);
            rest = &rest[len..];
        }
        if flags & OLD != 0 {
            change.old = Some(self.inner.deserialize(rest)?);
        }
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::StringSerde;
    use std::sync::Arc;

    #[test]
    fn roundtrips_every_shape() {
        let s = ChangeSerde::new(Arc::new(StringSerde));
        for (new, old) in [
            (Some("n"), Some("old")),
            (Some(""), None),
            (None, Some("o")),
            (None, None),
        ] {
            let c = Change {
                new: new.map(str::to_string),
                old: old.map(str::to_string),
            };
            let mut buf = Vec::new();
            s.serialize(&c, &mut buf).unwrap();
            assert_eq!(s.deserialize(&buf).unwrap(), c);
        }
        assert!(s.deserialize(&[]).is_err());
        assert!(s.deserialize(&[1, 0, 0, 0, 9, b'x']).is_err());
    }
}
