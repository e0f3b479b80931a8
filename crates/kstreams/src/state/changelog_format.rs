//! How a store's writes look in its changelog topic: Kafka Streams' layouts, where the DSL's
//! stores have one, so that a changelog kstreams wrote reads like one Kafka Streams wrote
//! (and restores the same state).
//!
//! | store | stored key | stored value | changelog key | changelog value | record timestamp |
//! |---|---|---|---|---|---|
//! | [`Raw`](ChangelogFormat::Raw) | `k` | `v` | `k` | `v` | the writing record's |
//! | [`Timestamped`](ChangelogFormat::Timestamped) | `k` | `ts ‖ v` | `k` | `v` | `ts` |
//! | [`Window`](ChangelogFormat::Window) | `start ‖ k` | `ts ‖ v` | `k ‖ start ‖ seqnum` | `v` | `ts` |
//! | [`Session`](ChangelogFormat::Session) | `len ‖ k ‖ end ‖ start` | `end ‖ v` | `k ‖ end ‖ start` | `v` | `end` |
//!
//! Times are 8-byte big-endian longs, `len` a 4-byte big-endian length, `seqnum` 4 bytes
//! (always 0: aggregation stores keep no duplicates), as Kafka's `TimestampedKeyValueStore`,
//! `WindowKeySchema` and `SessionKeySchema` write them. Deletions are tombstones.
//!
//! One difference remains: Kafka Streams stamps a session store's changelog record with
//! the time of the record that wrote it, kstreams with the session's end (which it also
//! keeps as the stored value's time). Restoration reads neither.

use super::RestoreBatch;
use crate::error::StoreError;

/// The changelog layout of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ChangelogFormat {
    /// Written as stored.
    #[default]
    Raw,
    /// A timestamped key-value store.
    Timestamped,
    /// A timestamped window store (time, sliding windows).
    Window,
    /// A session store.
    Session,
}

const TIME: usize = 8;
const SEQNUM: [u8; 4] = [0; 4];

fn corrupt(store: &str, what: &str, len: usize) -> StoreError {
    StoreError::Engine {
        store: store.to_string(),
        reason: format!("{what} of {len} bytes is too short for its layout"),
    }
}

fn time(bytes: &[u8]) -> i64 {
    let mut b = [0u8; TIME];
    b.copy_from_slice(&bytes[..TIME]);
    i64::from_be_bytes(b)
}

/// A changelog record made from a store write.
pub(crate) struct Logged<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) timestamp: i64,
}

impl ChangelogFormat {
    /// The changelog record of a store write of `key` and `value` (`None`: deleted) made
    /// while a record of time `now` was processed. A rewritten key goes into `buf`.
    pub(crate) fn logged_as<'a>(
        self,
        store: &str,
        key: &'a [u8],
        value: Option<&'a [u8]>,
        now: i64,
        buf: &'a mut Vec<u8>,
    ) -> Result<Logged<'a>, StoreError> {
        let (value, timestamp) = match (self, value) {
            (ChangelogFormat::Raw, v) | (_, v @ None) => (v, now),
            (_, Some(v)) if v.len() < TIME => {
                return Err(corrupt(store, "a stored value", v.len()))
            }
            (_, Some(v)) => (Some(&v[TIME..]), time(v)),
        };
        let key: &'a [u8] = match self {
            ChangelogFormat::Raw | ChangelogFormat::Timestamped => key,
            ChangelogFormat::Window => {
                if key.len() < TIME {
                    return Err(corrupt(store, "a window key", key.len()));
                }
                buf.clear();
                buf.extend_from_slice(&key[TIME..]);
                buf.extend_from_slice(&key[..TIME]);
                buf.extend_from_slice(&SEQNUM);
                buf
            }
            ChangelogFormat::Session => {
                let k = key
                    .get(..4)
                    .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
                    .filter(|&l| key.len() == 4 + l + 2 * TIME)
                    .ok_or_else(|| corrupt(store, "a session key", key.len()))?;
                &key[4..4 + k + 2 * TIME]
            }
        };
        Ok(Logged {
            key,
            value,
            timestamp,
        })
    }

    /// Appends to `batch` the store write a changelog record of `timestamp` stands for, as
    /// [`restored_from`](Self::restored_from) does but without allocating per record.
    pub(crate) fn restore_into(
        self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
        batch: &mut RestoreBatch,
    ) -> Result<(), StoreError> {
        let ts = timestamp.to_be_bytes();
        match self {
            ChangelogFormat::Raw => batch.push(&[key], value.map(|v| [v]).as_ref().map(|v| &v[..])),
            ChangelogFormat::Timestamped => {
                batch.push(&[key], value.map(|v| [&ts[..], v]).as_ref().map(|v| &v[..]))
            }
            ChangelogFormat::Window => {
                if key.len() < TIME + SEQNUM.len() {
                    return Err(corrupt(store, "a window changelog key", key.len()));
                }
                let k = &key[..key.len() - TIME - SEQNUM.len()];
                let start = &key[k.len()..k.len() + TIME];
                batch.push(
                    &[start, k],
                    value.map(|v| [&ts[..], v]).as_ref().map(|v| &v[..]),
                )
            }
            ChangelogFormat::Session => {
                if key.len() < 2 * TIME {
                    return Err(corrupt(store, "a session changelog key", key.len()));
                }
                let len = ((key.len() - 2 * TIME) as u32).to_be_bytes();
                // The session's end, from the key: what kstreams keeps as its time.
                let end = &key[key.len() - 2 * TIME..key.len() - TIME];
                batch.push(
                    &[&len[..], key],
                    value.map(|v| [end, v]).as_ref().map(|v| &v[..]),
                )
            }
        }
        Ok(())
    }

    /// The store write a changelog record of `timestamp` stands for: key, and value
    /// (`None`: delete). One record of [`restore_into`](Self::restore_into), which holds
    /// the layouts.
    pub(crate) fn restored_from(
        self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
        let mut batch = RestoreBatch::default();
        self.restore_into(store, key, value, timestamp, &mut batch)?;
        let (k, v) = batch
            .iter()
            .next()
            .ok_or_else(|| corrupt(store, "a changelog record", key.len()))?;
        Ok((k.to_vec(), v.map(<[u8]>::to_vec)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restoring_into_a_batch_appends_after_what_it_holds() {
        let window_key = [&b"k"[..], &7i64.to_be_bytes(), &[0, 0, 0, 1]].concat();
        let session_key = [&b"k"[..], &9i64.to_be_bytes(), &3i64.to_be_bytes()].concat();
        let mut batch = RestoreBatch::default();
        let mut want = Vec::new();
        for (f, key) in [
            (ChangelogFormat::Raw, &b"k"[..]),
            (ChangelogFormat::Timestamped, &b"k"[..]),
            (ChangelogFormat::Window, &window_key[..]),
            (ChangelogFormat::Session, &session_key[..]),
        ] {
            for value in [Some(&b"v"[..]), None] {
                f.restore_into("s", key, value, 42, &mut batch).unwrap();
                want.push(f.restored_from("s", key, value, 42).unwrap());
            }
        }
        let got: Vec<_> = batch
            .iter()
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(got, want);
        let mut batch = RestoreBatch::default();
        assert!(ChangelogFormat::Window
            .restore_into("s", b"short", None, 0, &mut batch)
            .is_err());
        assert!(batch.is_empty());
    }

    fn stored(ts: i64, v: &[u8]) -> Vec<u8> {
        [&ts.to_be_bytes()[..], v].concat()
    }

    fn round_trip(
        f: ChangelogFormat,
        key: &[u8],
        value: Option<&[u8]>,
        now: i64,
    ) -> (Vec<u8>, Option<Vec<u8>>, i64) {
        let mut buf = Vec::new();
        let logged = f.logged_as("s", key, value, now, &mut buf).unwrap();
        let out = (
            logged.key.to_vec(),
            logged.value.map(<[u8]>::to_vec),
            logged.timestamp,
        );
        let (k, v) = f
            .restored_from("s", &out.0, out.1.as_deref(), out.2)
            .unwrap();
        assert_eq!(k, key, "{f:?} key");
        if let (Some(v), Some(value)) = (v.as_deref(), value) {
            assert_eq!(v, value, "{f:?} value");
        }
        out
    }

    #[test]
    fn timestamped_values_log_plain_with_their_time_as_the_record_time() {
        let (k, v, t) = round_trip(
            ChangelogFormat::Timestamped,
            b"k12",
            Some(&stored(77, &1i64.to_be_bytes())),
            5,
        );
        assert_eq!(
            (k.as_slice(), v.as_deref(), t),
            (&b"k12"[..], Some(&1i64.to_be_bytes()[..]), 77)
        );
        let (_, v, t) = round_trip(ChangelogFormat::Timestamped, b"k12", None, 5);
        assert_eq!(
            (v, t),
            (None, 5),
            "a deletion is a tombstone at the writing record's time"
        );
    }

    #[test]
    fn window_keys_log_as_kafkas_window_key_schema() {
        let store_key = [&1000i64.to_be_bytes()[..], b"k"].concat();
        let (k, v, t) = round_trip(
            ChangelogFormat::Window,
            &store_key,
            Some(&stored(1234, b"v")),
            0,
        );
        assert_eq!(
            k,
            [&b"k"[..], &1000i64.to_be_bytes(), &[0, 0, 0, 0]].concat()
        );
        assert_eq!((v.as_deref(), t), (Some(&b"v"[..]), 1234));
    }

    #[test]
    fn session_keys_log_as_kafkas_session_key_schema() {
        let store_key = [
            &2u32.to_be_bytes()[..],
            b"k0",
            &900i64.to_be_bytes(),
            &100i64.to_be_bytes(),
        ]
        .concat();
        let (k, v, t) = round_trip(
            ChangelogFormat::Session,
            &store_key,
            Some(&stored(900, b"3")),
            0,
        );
        assert_eq!(
            k,
            [&b"k0"[..], &900i64.to_be_bytes(), &100i64.to_be_bytes()].concat()
        );
        assert_eq!((v.as_deref(), t), (Some(&b"3"[..]), 900));
        // Restored, the value gets the session's end as its time.
        let (_, restored) = ChangelogFormat::Session
            .restored_from("s", &k, Some(b"3"), 5)
            .unwrap();
        assert_eq!(restored, Some(stored(900, b"3")));
    }

    #[test]
    fn short_bytes_are_an_error_naming_the_store() {
        let mut buf = Vec::new();
        let e = ChangelogFormat::Timestamped
            .logged_as("counts", b"k", Some(b"short"), 0, &mut buf)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("counts"), "{e}");
        assert!(ChangelogFormat::Window
            .restored_from("w", b"k", Some(b"v"), 0)
            .is_err());
        assert!(ChangelogFormat::Session
            .restored_from("s", b"k", None, 0)
            .is_err());
    }
}
