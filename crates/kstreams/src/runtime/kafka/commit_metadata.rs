//! Stream time in committed offsets' metadata, as Kafka Streams keeps partition time: a
//! restarted task resumes with the time its partitions had, so windows that closed before a
//! crash stay closed (no second "final" result, no late record counted as on time).
//!
//! The layout is Kafka Streams' `TopicPartitionMetadata`, version 2: base64 (standard
//! alphabet, padded) of the magic byte 2, the partition time as an 8-byte big-endian long,
//! then the processor metadata. kstreams writes no processor metadata (Kafka Streams keeps
//! emit-on-close progress there; kstreams keeps it in a changelogged buffer), so it writes
//! the 9 bytes Kafka Streams writes for a task without any. Version 1 (magic 1, the time
//! alone) is read too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const LATEST_MAGIC: u8 = 2;

/// The metadata string for a partition time.
pub(crate) fn encode(partition_time: i64) -> String {
    let mut raw = [0u8; 9];
    raw[0] = LATEST_MAGIC;
    raw[1..].copy_from_slice(&partition_time.to_be_bytes());
    STANDARD.encode(raw)
}

/// The partition time in a metadata string, or `None` for empty, foreign or unknown
/// metadata (the task then starts without a stream time, as a new one).
pub(crate) fn decode(metadata: &str) -> Option<i64> {
    let bytes = STANDARD.decode(metadata).ok()?;
    if !matches!(bytes.first().copied(), Some(1 | LATEST_MAGIC)) {
        return None;
    }
    let time: [u8; 8] = bytes.get(1..9)?.try_into().ok()?;
    Some(i64::from_be_bytes(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafka_streams_encoding() {
        // What Kafka Streams 4.4 committed for a partition time of 1,796,155,800,000 ms,
        // read back from the broker (conformance suite).
        assert_eq!(encode(1_796_155_800_000), "AgAAAaIzOnnA");
        assert_eq!(decode("AgAAAaIzOnnA"), Some(1_796_155_800_000));
        for t in [0, 1, 1_700_000_000_000, i64::MAX, -1] {
            assert_eq!(decode(&encode(t)), Some(t), "{t}");
        }
    }

    #[test]
    fn reads_version_1_and_processor_metadata_and_refuses_the_rest() {
        // Version 1: Base64 of (byte) 1 and the long 0.
        assert_eq!(decode("AQAAAAAAAAAA"), Some(0));
        // Version 2 with an emit-on-close entry after the time, as Kafka Streams writes it.
        assert_eq!(
            decode("AgAAAaIzOnnAAAAAAQAAABBlbWl0LWZpbmFsLXN0b3JlAAABojM6Zjg="),
            Some(1_796_155_800_000)
        );
        assert_eq!(decode(""), None);
        assert_eq!(decode("not base64!"), None);
        assert_eq!(
            decode(&STANDARD.encode([9u8; 9])),
            None,
            "an unknown version"
        );
        assert_eq!(decode(&STANDARD.encode([2u8; 5])), None, "too short");
    }
}
