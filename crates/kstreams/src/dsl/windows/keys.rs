//! Windows as data: [`Window`], [`Windowed`] keys, and their byte layouts (Kafka's on the
//! wire, start-first and per-key-session in the stores).

use crate::error::SerdeError;
use crate::serde::{Serde, SharedSerde};
use std::sync::Arc;

/// A window: `[start, end)` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

/// A key and the window its aggregate belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

/// Reads an 8-byte big-endian window start; `what` names the layout in errors.
fn read_start(bytes: &[u8], what: &'static str) -> Result<i64, SerdeError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| SerdeError::Invalid {
        expected: what,
        reason: format!(
            "{} bytes where the 8-byte window start belongs",
            bytes.len()
        ),
    })?;
    Ok(i64::from_be_bytes(arr))
}

/// Serializes `Windowed<K>` as the key's bytes followed by the window start, 8 bytes
/// big-endian: Kafka's `TimeWindowedSerde` layout. The window size, which the bytes do not
/// carry, gives the end when reading.
pub struct WindowedSerde<K> {
    inner: SharedSerde<K>,
    size_ms: i64,
}

impl<K: 'static> WindowedSerde<K> {
    /// Wraps the key serde of windows of `size_ms`.
    pub fn new(inner: impl Serde<K>, size_ms: i64) -> Self {
        WindowedSerde {
            inner: Arc::new(inner),
            size_ms,
        }
    }

    pub(crate) fn shared(inner: SharedSerde<K>, size_ms: i64) -> Self {
        WindowedSerde { inner, size_ms }
    }
}

impl<K: 'static> Serde<Windowed<K>> for WindowedSerde<K> {
    fn serialize(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.inner.serialize(&value.key, out)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(())
    }

    fn partition_key<'a>(&self, serialized: &'a [u8]) -> &'a [u8] {
        &serialized[..serialized.len().saturating_sub(8)]
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let split = bytes.len().saturating_sub(8);
        let (key, start) = bytes.split_at(split);
        let start = read_start(start, "windowed key")?;
        Ok(Windowed {
            key: self.inner.deserialize(key)?,
            window: Window {
                start,
                end: start.saturating_add(self.size_ms),
            },
        })
    }
}

/// The store layout of windowed aggregates: window start first (8 bytes big-endian), then
/// the key, so that expired windows are one range at the front of the store.
pub(crate) struct StartFirstSerde<K> {
    pub(crate) inner: SharedSerde<K>,
    pub(crate) size_ms: i64,
}

impl<K: 'static> Serde<Windowed<K>> for StartFirstSerde<K> {
    fn serialize(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&value.window.start.to_be_bytes());
        self.inner.serialize(&value.key, out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let (start, key) = bytes.split_at(bytes.len().min(8));
        let start = read_start(start, "window store key")?;
        Ok(Windowed {
            key: self.inner.deserialize(key)?,
            window: Window {
                start,
                end: start.saturating_add(self.size_ms),
            },
        })
    }
}

/// Serializes session-windowed keys as Kafka's `SessionWindowedSerde` does: the key's
/// bytes, then the session's end and start, 8 bytes big-endian each.
pub struct SessionWindowedSerde<K> {
    inner: SharedSerde<K>,
}

impl<K: 'static> SessionWindowedSerde<K> {
    /// Wraps the key serde.
    pub fn new(inner: impl Serde<K>) -> Self {
        SessionWindowedSerde {
            inner: Arc::new(inner),
        }
    }
    pub(crate) fn shared(inner: SharedSerde<K>) -> Self {
        SessionWindowedSerde { inner }
    }
}

impl<K: 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.inner.serialize(&value.key, out)?;
        out.extend_from_slice(&value.window.end.to_be_bytes());
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(())
    }

    fn partition_key<'a>(&self, serialized: &'a [u8]) -> &'a [u8] {
        &serialized[..serialized.len().saturating_sub(16)]
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let split = bytes.len().saturating_sub(16);
        let (key, times) = bytes.split_at(split);
        let (end, start) = times.split_at(times.len().min(8));
        Ok(Windowed {
            window: Window {
                end: read_start(end, "session-windowed key end")?,
                start: read_start(start, "session-windowed key start")?,
            },
            key: self.inner.deserialize(key)?,
        })
    }
}

/// The store layout of sessions: key length (4 bytes), key, end, start (big-endian), so a
/// key's sessions are one range ordered by end.
pub(crate) struct SessionStoreSerde<K> {
    pub(crate) inner: SharedSerde<K>,
}

impl<K: 'static> SessionStoreSerde<K> {
    /// The prefix of `key`'s sessions, followed by `end` when given.
    pub(crate) fn prefix(key: &[u8], end: Option<i64>) -> Vec<u8> {
        let mut out = Vec::with_capacity(key.len() + 20);
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        if let Some(e) = end {
            out.extend_from_slice(&e.to_be_bytes());
        }
        out
    }
}

impl<K: 'static> Serde<Windowed<K>> for SessionStoreSerde<K> {
    fn serialize(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        let mut key = Vec::new();
        self.inner.serialize(&value.key, &mut key)?;
        out.extend_from_slice(&Self::prefix(&key, Some(value.window.end)));
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let bad = |reason: String| SerdeError::Invalid {
            expected: "session store key",
            reason,
        };
        let len = bytes
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| bad(format!("{} bytes", bytes.len())))? as usize;
        let key = bytes
            .get(4..4 + len)
            .ok_or_else(|| bad(format!("key of {len} bytes in {} bytes", bytes.len())))?;
        let times = &bytes[4 + len..];
        let (end, start) = times.split_at(times.len().min(8));
        Ok(Windowed {
            key: self.inner.deserialize(key)?,
            window: Window {
                start: read_start(start, "session store key start")?,
                end: read_start(end, "session store key end")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::StringSerde;

    #[test]
    fn windowed_serde_roundtrips_with_kafka_layout() {
        let s = WindowedSerde::new(StringSerde, 10);
        let w = Windowed {
            key: "k".to_string(),
            window: Window { start: 20, end: 30 },
        };
        let mut out = Vec::new();
        s.serialize(&w, &mut out).unwrap();
        assert_eq!(out, [b"k".as_slice(), &20i64.to_be_bytes()].concat());
        assert_eq!(s.deserialize(&out).unwrap(), w);
        assert!(s.deserialize(b"short").is_err());
    }

    #[test]
    fn session_serdes_roundtrip() {
        let w = Windowed {
            key: "user".to_string(),
            window: Window { start: 5, end: 42 },
        };
        let s = SessionWindowedSerde::new(StringSerde);
        let mut out = Vec::new();
        s.serialize(&w, &mut out).unwrap();
        let kafka = [
            b"user".as_slice(),
            &42i64.to_be_bytes(),
            &5i64.to_be_bytes(),
        ]
        .concat();
        assert_eq!(out, kafka);
        assert_eq!(s.deserialize(&out).unwrap(), w);
        let store = SessionStoreSerde {
            inner: Arc::new(StringSerde) as SharedSerde<String>,
        };
        out.clear();
        store.serialize(&w, &mut out).unwrap();
        assert_eq!(store.deserialize(&out).unwrap(), w);
        assert!(store.deserialize(&out[..10]).is_err());
    }
}
