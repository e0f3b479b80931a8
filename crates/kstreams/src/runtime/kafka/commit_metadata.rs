//! Stream time in committed offsets' metadata, as Kafka Streams keeps partition time: a
//! restarted task resumes with the stream time it had, so windows that closed before a
//! crash stay closed (no second "final" result, no late record counted as on time).
//!
//! The layout is Kafka Streams' version-1 encoding: base64 of one magic byte (1) and the
//! time as an 8-byte big-endian long. A Java application reads ours and we read its.

const MAGIC: u8 = 1;
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The metadata string for a stream time.
pub(crate) fn encode(stream_time: i64) -> String {
    let mut raw = [0u8; 9];
    raw[0] = MAGIC;
    raw[1..].copy_from_slice(&stream_time.to_be_bytes());
    let mut out = String::with_capacity(12);
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The stream time in a metadata string, or `None` for empty, foreign or unknown metadata
/// (the task then starts without a stream time, as a new one).
pub(crate) fn decode(metadata: &str) -> Option<i64> {
    let mut bytes = Vec::with_capacity(9);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in metadata.bytes().take_while(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Version 2 appends more after the time; the time is in the same place.
    if bytes.first() != Some(&MAGIC) && bytes.first() != Some(&2) {
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
        // Base64.getEncoder().encodeToString(ByteBuffer.allocate(9).put((byte)1).putLong(0))
        assert_eq!(encode(0), "AQAAAAAAAAAA");
        assert_eq!(decode("AQAAAAAAAAAA"), Some(0));
        for t in [1, 1_700_000_000_000, i64::MAX, -1] {
            assert_eq!(decode(&encode(t)), Some(t), "{t}");
        }
        assert_eq!(decode(""), None);
        assert_eq!(decode("not base64!"), None);
    }
}
