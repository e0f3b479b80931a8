//! Helpers shared by the oracle tests.
#![allow(dead_code)]

/// splitmix64: a tiny deterministic generator, so every seed is reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Seeded event-time input for the windowed oracles: keys `k0..`, values below 100, event
/// time advancing by up to `step` ms per record, and one record in four up to `max_delay`
/// ms behind (out of order, and late when that exceeds the grace period).
pub struct Events {
    rng: Rng,
    clock: i64,
    step: u64,
    keys: u64,
    max_delay: u64,
}

impl Events {
    pub fn new(seed: u64, step: u64, keys: u64, max_delay: u64) -> Self {
        Events {
            rng: Rng(seed),
            clock: 0,
            step,
            keys,
            max_delay,
        }
    }

    /// How many records to generate: 50 plus up to `spread` more.
    pub fn count(&mut self, spread: u64) -> u64 {
        50 + self.rng.below(spread)
    }

    /// The next (key, value, timestamp).
    pub fn next(&mut self) -> (String, i64, i64) {
        self.clock += self.rng.below(self.step) as i64;
        let delay = if self.rng.below(4) == 0 {
            self.rng.below(self.max_delay) as i64
        } else {
            0
        };
        let ts = (self.clock - delay).max(0);
        let key = format!("k{}", self.rng.below(self.keys));
        (key, self.rng.below(100) as i64, ts)
    }
}

/// Stream time per partition, as the driver's tasks see it.
pub struct StreamTimes<const N: usize>(pub [i64; N]);

impl<const N: usize> StreamTimes<N> {
    pub fn new() -> Self {
        StreamTimes([i64::MIN; N])
    }

    /// Advances the stream time of `key`'s partition with `ts`; returns it.
    pub fn advance(&mut self, key: &str, ts: i64) -> i64 {
        let p = self.partition(key);
        self.0[p] = self.0[p].max(ts);
        self.0[p]
    }

    /// The stream time of `key`'s partition.
    pub fn of(&self, key: &str) -> i64 {
        self.0[self.partition(key)]
    }

    fn partition(&self, key: &str) -> usize {
        kstreams::runtime::partitioner::partition_for_key(key.as_bytes(), N as u32) as usize
    }
}
