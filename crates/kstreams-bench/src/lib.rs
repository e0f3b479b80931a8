//! Benchmark helpers shared by the benchmark binaries.

use kstreams::error::StreamsError;
use kstreams::runtime::{OutgoingRecord, RecordCollector};

/// A collector that counts what a sink would send and keeps nothing: the cost it adds is
/// that of reading the serialized bytes, as a producer's copy into its batch would.
#[derive(Debug, Default)]
pub struct CountingCollector {
    /// Records sent.
    pub records: u64,
    /// Key and value bytes sent.
    pub bytes: u64,
}

impl RecordCollector for CountingCollector {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        self.records += 1;
        self.bytes += r.key.map_or(0, |k| k.len() as u64) + r.value.map_or(0, |v| v.len() as u64);
        Ok(())
    }
    fn partition_count(&self, _topic: &str) -> Option<u32> {
        Some(1)
    }
}

/// splitmix64, for reproducible inputs.
pub struct Rng(pub u64);

impl Rng {
    /// Next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
