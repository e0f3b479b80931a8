//! Java-compatible key partitioning.
//!
//! Kafka's Java producer picks a keyed record's partition as
//! `toPositive(murmur2(keyBytes)) % numPartitions`. kstreams does the same everywhere (test
//! driver, repartition topics, sinks), so that a kstreams app and a Java app agree on where
//! a key lives, which co-partitioned joins depend on.

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), bit for bit.
///
/// ```
/// use kstreams::runtime::partitioner::murmur2;
/// // Values checked against the Java client.
/// assert_eq!(murmur2(b"21"), -973932308);
/// assert_eq!(murmur2(b""), 275646681);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a non-null key among `num_partitions`, as the Java producer computes it.
///
/// ```
/// use kstreams::runtime::partitioner::partition_for_key;
/// assert_eq!(partition_for_key(b"alice", 1), 0);
/// assert!(partition_for_key(b"alice", 4) < 4);
/// ```
pub fn partition_for_key(key: &[u8], num_partitions: u32) -> u32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    positive % num_partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_reference_values() {
        // From Kafka's UtilsTest#testMurmur2.
        let cases: [(&[u8], i32); 7] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
            (b"", 275646681),
        ];
        for (input, want) in cases {
            assert_eq!(
                murmur2(input),
                want,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn partitions_agree_with_an_independent_implementation() {
        // murmur2 of kafka-python (kafka.partitioner.default), reduced as the Java producer does.
        let cases: [(&[u8], u32, u32); 3] = [
            (b"alice", 1_951_417_749, 1),
            (b"customer-000042", 3_243_708_153, 1),
            (b"k", 2_727_470_560, 0),
        ];
        for (key, unsigned_hash, partition_of_4) in cases {
            assert_eq!(murmur2(key) as u32, unsigned_hash);
            assert_eq!(partition_for_key(key, 4), partition_of_4);
        }
    }
}
