//! Entry points for the `cargo fuzz` targets in `fuzz/` at the workspace root. **Not API.**
//!
//! This module exists only so that the fuzz targets can reach the crate-private parsers of
//! untrusted bytes: the window and session store key layouts, the changelog layouts, the
//! commit metadata and the checkpoint file. It is hidden from the docs, follows no semver
//! promise, and may change or vanish with any release. Applications must not call it.
//!
//! Each function takes arbitrary bytes, runs one parser on them and returns what the parser
//! returned. Where the format is canonical it also checks, by panicking, that writing back
//! what was read gives the same bytes (or, where it is not, the same value), so that the
//! fuzzer reports round-trip breaks as well as crashes.
#![doc(hidden)]

use crate::dsl::{SessionStoreSerde, StartFirstSerde, Windowed};
use crate::error::SerdeError;
use crate::runtime::kafka::{checkpoint, commit_metadata};
use crate::serde::{BytesSerde, I64Serde, Serde, SharedSerde, StringSerde};
use crate::state::ChangelogFormat;
use std::collections::HashMap;
use std::sync::Arc;

/// The window size the window store layout is read with.
const WINDOW_SIZE_MS: i64 = 60_000;

/// `serialize(deserialize(bytes)) == bytes` for a serde whose layout is canonical.
fn assert_round_trip<T: std::fmt::Debug + 'static>(
    what: &str,
    serde: &dyn Serde<T>,
    bytes: &[u8],
) -> Result<T, SerdeError> {
    let value = serde.deserialize(bytes)?;
    let mut out = Vec::new();
    serde
        .serialize(&value, &mut out)
        .unwrap_or_else(|e| panic!("{what}: {value:?} was read but cannot be written: {e}"));
    assert_eq!(out, bytes, "{what}: {value:?} is written differently");
    Ok(value)
}

/// The window store key layout (`start ‖ key`, `StartFirstSerde`), read with a byte, a
/// string and an `i64` key serde.
pub fn start_first_key(bytes: &[u8]) -> Result<Windowed<Vec<u8>>, SerdeError> {
    fn layout<K: std::fmt::Debug + 'static>(inner: SharedSerde<K>) -> StartFirstSerde<K> {
        StartFirstSerde {
            inner,
            size_ms: WINDOW_SIZE_MS,
        }
    }
    let _ = assert_round_trip("window store key", &layout(Arc::new(StringSerde)), bytes);
    let _ = assert_round_trip("window store key", &layout(Arc::new(I64Serde)), bytes);
    let w = assert_round_trip("window store key", &layout(Arc::new(BytesSerde)), bytes)?;
    assert_eq!(w.window.end, w.window.start.saturating_add(WINDOW_SIZE_MS));
    Ok(w)
}

/// The session store key layout (`len ‖ key ‖ end ‖ start`, `SessionStoreSerde`), read
/// with a byte, a string and an `i64` key serde.
pub fn session_store_key(bytes: &[u8]) -> Result<Windowed<Vec<u8>>, SerdeError> {
    fn layout<K: 'static>(inner: SharedSerde<K>) -> SessionStoreSerde<K> {
        SessionStoreSerde { inner }
    }
    let _ = assert_round_trip("session store key", &layout(Arc::new(StringSerde)), bytes);
    let _ = assert_round_trip("session store key", &layout(Arc::new(I64Serde)), bytes);
    let w = assert_round_trip("session store key", &layout(Arc::new(BytesSerde)), bytes)?;
    let prefix = SessionStoreSerde::<Vec<u8>>::prefix(&w.key, Some(w.window.end));
    assert!(
        bytes.starts_with(&prefix),
        "a session's prefix is its key's"
    );
    Ok(w)
}

/// Committed offsets' metadata (`commit_metadata::decode`); bytes that are not UTF-8 are
/// refused as the broker's string would be.
pub fn commit_metadata(bytes: &[u8]) -> Result<i64, &'static str> {
    use base64::Engine as _;
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8")?;
    let decoded = commit_metadata::decode(text).ok_or("no partition time")?;
    let time = decoded.partition_time;
    let encoded = commit_metadata::encode(time, &decoded.processor);
    assert_eq!(commit_metadata::decode(&encoded), Some(decoded.clone()));
    // Version 2 is the layout kstreams writes: metadata read whole (no entry cut off or
    // repeated) is written back to as many bytes, its entries ordered by key.
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("decode accepted it");
    let entries: usize = decoded.processor.keys().map(|k| 12 + k.len()).sum();
    let whole = 9 + if decoded.processor.is_empty() {
        0
    } else {
        4 + entries
    };
    if raw[0] == 2 && raw.len() == whole {
        let written = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .expect("kstreams' own metadata");
        assert_eq!(
            written.len(),
            raw.len(),
            "the time {time} is written differently"
        );
    }
    Ok(time)
}

/// A checkpoint file's bytes, as `checkpoint::read` parses them (bytes that are not UTF-8
/// are refused, as `read` refuses them).
pub fn checkpoint(bytes: &[u8]) -> Result<HashMap<(String, i32), i64>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let offsets = checkpoint::parse(text)?;
    for ((topic, _), offset) in &offsets {
        assert!(*offset >= 0, "negative offset accepted");
        assert!(
            !topic.is_empty() && !topic.contains(char::is_whitespace),
            "topic {topic:?} cannot be written back"
        );
    }
    Ok(offsets)
}

const FORMATS: [ChangelogFormat; 4] = [
    ChangelogFormat::Raw,
    ChangelogFormat::Timestamped,
    ChangelogFormat::Window,
    ChangelogFormat::Session,
];

/// Splits fuzz bytes into a record: 8 bytes of time, a flag byte (bit 0: tombstone), a key
/// length byte, the key, and the value (the rest). Missing header bytes read as zero.
fn record(bytes: &[u8]) -> (&[u8], Option<&[u8]>, i64) {
    let (head, rest) = bytes.split_at(bytes.len().min(10));
    let mut h = [0u8; 10];
    h[..head.len()].copy_from_slice(head);
    let time = i64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
    let (key, value) = rest.split_at(usize::from(h[9]).min(rest.len()));
    (key, (h[8] & 1 == 0).then_some(value), time)
}

/// The time of the writing record, other than the changelog record's, to tell them apart.
const NOW: i64 = -7;

/// `ChangelogFormat::restored_from` for each layout, on a changelog record made of the
/// bytes (see `record`); what it restores must log back as the same record.
pub fn changelog_restored_from(bytes: &[u8]) {
    let (key, value, time) = record(bytes);
    for format in FORMATS {
        let Ok((k, v)) = format.restored_from("fuzz", key, value, time) else {
            continue;
        };
        let mut buf = Vec::new();
        let logged = format
            .logged_as("fuzz", &k, v.as_deref(), NOW, &mut buf)
            .unwrap_or_else(|e| panic!("{format:?}: a restored write cannot be logged: {e}"));
        let mut expected_key = key.to_vec();
        if format == ChangelogFormat::Window {
            // kstreams keeps no duplicates: the sequence number is written as 0.
            let n = expected_key.len();
            expected_key[n - 4..].fill(0);
        }
        assert_eq!(logged.key, expected_key, "{format:?} key");
        assert_eq!(logged.value, value, "{format:?} value");
        let expected_time = match (format, value) {
            (ChangelogFormat::Raw, _) | (_, None) => NOW,
            (ChangelogFormat::Timestamped | ChangelogFormat::Window, _) => time,
            // The session's end, from the key.
            (ChangelogFormat::Session, _) => {
                let end = &key[key.len() - 16..key.len() - 8];
                i64::from_be_bytes(end.try_into().expect("8 bytes"))
            }
        };
        assert_eq!(logged.timestamp, expected_time, "{format:?} time");
    }
}

/// `ChangelogFormat::logged_as` for each layout, on a store write made of the bytes (see
/// `record`; its time is the writing record's); the changelog record must restore the
/// same write.
pub fn changelog_logged_as(bytes: &[u8]) {
    let (key, value, now) = record(bytes);
    for format in FORMATS {
        let mut buf = Vec::new();
        let Ok(logged) = format.logged_as("fuzz", key, value, now, &mut buf) else {
            continue;
        };
        let (k, v) = format
            .restored_from("fuzz", logged.key, logged.value, logged.timestamp)
            .unwrap_or_else(|e| panic!("{format:?}: a logged write cannot be restored: {e}"));
        assert_eq!(k, key, "{format:?} key");
        let expected_value = match (format, value) {
            // A session restores with its end as the value's time (kstreams stores it so).
            (ChangelogFormat::Session, Some(v)) => {
                Some([&key[key.len() - 16..key.len() - 8], &v[8..]].concat())
            }
            (_, v) => v.map(<[u8]>::to_vec),
        };
        assert_eq!(v, expected_value, "{format:?} value");
    }
}
