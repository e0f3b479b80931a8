//! Time windows and windowed keys.

use crate::error::SerdeError;
use crate::serde::{Serde, SharedSerde};
use std::sync::Arc;
use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Fixed-size windows on event time: tumbling (advance = size) or hopping (advance < size),
/// with a grace period after a window's end during which late records are still counted.
///
/// ```
/// use kstreams::dsl::TimeWindows;
/// use std::time::Duration;
///
/// let hopping = TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10))
///     .advance_by(Duration::from_secs(30));
/// // A record at 45 s is in the windows starting at 0 s and 30 s.
/// assert_eq!(hopping.window_starts(45_000), vec![0, 30_000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    /// Window size, ms.
    pub size_ms: i64,
    /// Distance between window starts, ms.
    pub advance_ms: i64,
    /// How long after its end a window still accepts records, ms.
    pub grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close as soon as stream time passes their end.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` with a grace period.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        let size_ms = ms(size).max(1);
        TimeWindows {
            size_ms,
            advance_ms: size_ms,
            grace_ms: ms(grace).max(0),
        }
    }

    /// Hopping windows: a new window every `advance` (at most the size).
    #[must_use]
    pub fn advance_by(mut self, advance: Duration) -> Self {
        self.advance_ms = ms(advance).clamp(1, self.size_ms);
        self
    }

    /// Starts of the windows that contain `timestamp`, ascending (Kafka's `windowsFor`).
    pub fn window_starts(&self, timestamp: i64) -> Vec<i64> {
        let first =
            (timestamp - self.size_ms + self.advance_ms).max(0) / self.advance_ms * self.advance_ms;
        (0..)
            .map(|i| first + i * self.advance_ms)
            .take_while(|s| *s <= timestamp)
            .collect()
    }
}

/// Sessions: a key's records belong to one session while no gap between them exceeds the
/// inactivity gap; a record that bridges two sessions merges them.
///
/// ```
/// use kstreams::dsl::SessionWindows;
/// use std::time::Duration;
///
/// let sessions = SessionWindows::of_inactivity_gap_and_grace(Duration::from_secs(300), Duration::from_secs(30));
/// assert_eq!(sessions.gap_ms, 300_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    /// Largest gap between two records of one session, ms (inclusive).
    pub gap_ms: i64,
    /// How long after a session could last have grown it still accepts records, ms.
    pub grace_ms: i64,
}

impl SessionWindows {
    /// Sessions with this inactivity gap and grace period.
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        SessionWindows {
            gap_ms: ms(gap).max(0),
            grace_ms: ms(grace).max(0),
        }
    }
    /// Sessions with this inactivity gap and no grace period.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }
}

/// Sliding windows (Kafka's `SlidingWindows`): windows of `[t - difference, t]`, both ends
/// inclusive, one for every distinct set of records a window of that size can hold. Each
/// record updates the windows ending at it and the windows it falls into.
///
/// ```
/// use kstreams::dsl::SlidingWindows;
/// use std::time::Duration;
///
/// let w = SlidingWindows::of_time_difference_and_grace(Duration::from_secs(10), Duration::from_secs(2));
/// assert_eq!((w.difference_ms, w.grace_ms), (10_000, 2_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    /// Largest time difference between two records of one window, ms.
    pub difference_ms: i64,
    /// How long after its end a window still accepts records, ms.
    pub grace_ms: i64,
}

impl SlidingWindows {
    /// Sliding windows of this size (the time difference) and grace period.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows {
            difference_ms: ms(difference).max(0),
            grace_ms: ms(grace).max(0),
        }
    }
    /// As above, without grace.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }
}

/// How far apart in time two records of a stream-stream join may be: the other side's
/// record may be up to `before` earlier or `after` later, and records arriving up to
/// `grace` after that still join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    /// How much earlier the other side's record may be, ms.
    pub before_ms: i64,
    /// How much later the other side's record may be, ms.
    pub after_ms: i64,
    /// Grace period, ms.
    pub grace_ms: i64,
}

impl JoinWindows {
    /// Records join when their timestamps differ by at most `difference`.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        JoinWindows {
            before_ms: ms(difference),
            after_ms: ms(difference),
            grace_ms: ms(grace),
        }
    }
    /// As above, with no grace period.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }
}

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
    fn windows_for_a_timestamp() {
        let tumbling = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
        assert_eq!(tumbling.window_starts(0), vec![0]);
        assert_eq!(tumbling.window_starts(9), vec![0]);
        assert_eq!(tumbling.window_starts(10), vec![10]);
        let hopping = tumbling.advance_by(Duration::from_millis(5));
        assert_eq!(hopping.window_starts(3), vec![0]);
        assert_eq!(hopping.window_starts(12), vec![5, 10]);
        assert_eq!(hopping.window_starts(15), vec![10, 15]);
    }

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
