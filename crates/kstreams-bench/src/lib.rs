//! Benchmark helpers shared by the benchmark binaries.

pub mod peers;

use kstreams::error::StreamsError;
use kstreams::internals::{OutgoingRecord, RecordCollector};

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

/// A customer record of about 200 bytes of JSON, the shape of the benchmarks' input.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Purchase {
    /// Record id.
    pub id: u64,
    /// Customer id.
    pub customer: String,
    /// Amount.
    pub amount: f64,
    /// Currency code.
    pub currency: String,
    /// Country code.
    pub country: String,
    /// Device.
    pub device: String,
    /// Event time, ms.
    pub ts: i64,
    /// Free text.
    pub note: String,
}

impl Purchase {
    /// A deterministic record for `id`.
    pub fn sample(id: u64) -> Purchase {
        let mut rng = Rng(id);
        let r = rng.next_u64();
        Purchase {
            id,
            customer: format!("customer-{:06}", r % 100_000),
            amount: (r % 100_000) as f64 / 100.0,
            currency: "EUR".into(),
            country: ["fr", "de", "us", "es"][(r >> 20) as usize % 4].into(),
            device: ["mobile-android", "mobile-ios", "web-desktop"][(r >> 24) as usize % 3].into(),
            ts: 1_700_000_000_000 + id as i64,
            note: "card present; merchant category grocery; loyalty programme".into(),
        }
    }

    /// The benchmarks' filter: drops small amounts (about 1 record in 100).
    pub fn keep(&self) -> bool {
        self.amount >= 10.0
    }

    /// The benchmarks' map_values: normalizes the country code.
    pub fn normalized(mut self) -> Purchase {
        self.country = self.country.to_uppercase();
        self
    }
}

/// User plus system CPU time of this process so far, in seconds.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Peak resident set size of this process, in MiB.
pub fn peak_rss_mib() -> f64 {
    // SAFETY: as above.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    u.ru_maxrss as f64 / 1024.0
}

/// Resets this process's peak resident set size to its current size (Linux's
/// `/proc/self/clear_refs`), so that [`peak_rss_since_reset_mib`] measures one phase of a
/// run. Fails where the kernel does not offer it.
pub fn reset_peak_rss() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// Peak resident set size since the last [`reset_peak_rss`] (or since the start), in MiB:
/// `VmHWM` of `/proc/self/status`.
pub fn peak_rss_since_reset_mib() -> std::io::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .ok_or_else(|| std::io::Error::other("no VmHWM in /proc/self/status"))
}

/// The `q`-quantile of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
