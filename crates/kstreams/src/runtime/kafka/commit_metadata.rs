//! Stream time and processor progress in committed offsets' metadata, as Kafka Streams
//! keeps them: a restarted task resumes with the time its partitions had, so windows that
//! closed before a crash stay closed (no late record counted as on time), and with the
//! progress its processors recorded (the close time up to which emit-final aggregations
//! have emitted, so no final result is emitted twice or skipped).
//!
//! The layout is Kafka Streams' `TopicPartitionMetadata`, version 2: base64 (standard
//! alphabet, padded) of the magic byte 2, the partition time as an 8-byte big-endian long,
//! then its `ProcessorMetadata`: nothing when there is none, else the number of entries
//! (4-byte int) and per entry the key's length (4-byte int), the key in UTF-8 and the value
//! (8-byte long). Version 1 (magic 1, the time alone) is read too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::collections::BTreeMap;

const LATEST_MAGIC: u8 = 2;

/// Processor progress by key (Kafka Streams' `ProcessorMetadata`): for an emit-final
/// aggregation, its store name and the window close time it has emitted up to.
pub(crate) type ProcessorMetadata = BTreeMap<String, i64>;

/// What a committed offset's metadata holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// The partition's time.
    pub(crate) partition_time: i64,
    /// The task's processor progress (empty in version 1 or when there was none).
    pub(crate) processor: ProcessorMetadata,
}

/// The metadata string for a partition time and the task's processor progress.
pub(crate) fn encode(partition_time: i64, processor: &ProcessorMetadata) -> String {
    let mut raw = Vec::with_capacity(9 + processor.len() * 32);
    raw.push(LATEST_MAGIC);
    raw.extend_from_slice(&partition_time.to_be_bytes());
    if !processor.is_empty() {
        // Kafka Streams' layout has room for 2^31 entries of keys up to 2^31 bytes: store
        // names, far below either.
        raw.extend_from_slice(&(processor.len() as i32).to_be_bytes());
        for (key, value) in processor {
            raw.extend_from_slice(&(key.len() as i32).to_be_bytes());
            raw.extend_from_slice(key.as_bytes());
            raw.extend_from_slice(&value.to_be_bytes());
        }
    }
    STANDARD.encode(raw)
}

/// The partition time and processor progress in a metadata string, or `None` for empty,
/// foreign or unknown metadata (the task then starts without a stream time, as a new one).
/// Processor metadata that does not parse is left out: the time is still good.
pub(crate) fn decode(metadata: &str) -> Option<Decoded> {
    let bytes = STANDARD.decode(metadata).ok()?;
    let magic = *bytes.first()?;
    if !matches!(magic, 1 | LATEST_MAGIC) {
        return None;
    }
    let time: [u8; 8] = bytes.get(1..9)?.try_into().ok()?;
    let processor = if magic == LATEST_MAGIC {
        decode_processor(&bytes[9..]).unwrap_or_default()
    } else {
        ProcessorMetadata::new()
    };
    Some(Decoded {
        partition_time: i64::from_be_bytes(time),
        processor,
    })
}

fn decode_processor(mut rest: &[u8]) -> Option<ProcessorMetadata> {
    let mut out = ProcessorMetadata::new();
    if rest.is_empty() {
        return Some(out);
    }
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let count = i32::from_be_bytes(take(4)?.try_into().ok()?);
    for _ in 0..count {
        let len = i32::from_be_bytes(take(4)?.try_into().ok()?);
        let key = std::str::from_utf8(take(usize::try_from(len).ok()?)?).ok()?;
        let value = i64::from_be_bytes(take(8)?.try_into().ok()?);
        out.insert(key.to_string(), value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(metadata: &str) -> Option<i64> {
        decode(metadata).map(|d| d.partition_time)
    }

    #[test]
    fn matches_kafka_streams_encoding() {
        // What Kafka Streams 4.4 committed for a partition time of 1,796,155,800,000 ms,
        // read back from the broker (conformance suite).
        let none = ProcessorMetadata::new();
        assert_eq!(encode(1_796_155_800_000, &none), "AgAAAaIzOnnA");
        assert_eq!(time("AgAAAaIzOnnA"), Some(1_796_155_800_000));
        for t in [0, 1, 1_700_000_000_000, i64::MAX, -1] {
            assert_eq!(time(&encode(t, &none)), Some(t), "{t}");
        }
    }

    #[test]
    fn writes_and_reads_processor_metadata_as_kafka_streams_does() {
        // Kafka Streams' emit-final aggregation over the store "emit-final-store", as
        // committed by Kafka Streams 4.4 (conformance suite).
        let kafka_streams = "AgAAAaIzOnnAAAAAAQAAABBlbWl0LWZpbmFsLXN0b3JlAAABojM6Zjg=";
        let d = decode(kafka_streams).unwrap();
        assert_eq!(d.partition_time, 1_796_155_800_000);
        let expected: ProcessorMetadata =
            [("emit-final-store".to_string(), 1_796_155_795_000)].into();
        assert_eq!(d.processor, expected);
        assert_eq!(encode(1_796_155_800_000, &expected), kafka_streams);

        let two: ProcessorMetadata = [("a".to_string(), -1), ("bé".to_string(), i64::MAX)].into();
        let d = decode(&encode(7, &two)).unwrap();
        assert_eq!((d.partition_time, d.processor), (7, two));

        // Processor metadata cut short keeps the time and drops the progress.
        let mut raw = STANDARD.decode(kafka_streams).unwrap();
        raw.truncate(raw.len() - 3);
        let d = decode(&STANDARD.encode(raw)).unwrap();
        assert_eq!(d.partition_time, 1_796_155_800_000);
        assert!(d.processor.is_empty());
    }

    #[test]
    fn reads_version_1_and_processor_metadata_and_refuses_the_rest() {
        // Version 1: Base64 of (byte) 1 and the long 0.
        assert_eq!(time("AQAAAAAAAAAA"), Some(0));
        // Version 2 with an emit-on-close entry after the time, as Kafka Streams writes it.
        assert_eq!(
            time("AgAAAaIzOnnAAAAAAQAAABBlbWl0LWZpbmFsLXN0b3JlAAABojM6Zjg="),
            Some(1_796_155_800_000)
        );
        assert_eq!(time(""), None);
        assert_eq!(time("not base64!"), None);
        assert_eq!(time(&STANDARD.encode([9u8; 9])), None, "an unknown version");
        assert_eq!(time(&STANDARD.encode([2u8; 5])), None, "too short");
    }
}
