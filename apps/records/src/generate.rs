//! Synthetic customers and records, with labelled anomalies and invalid input.
//!
//! Event time follows a daily curve averaging `per_day` records a day (peak at 15:00 at
//! `peak` times the average, trough at 03:00), starting at `start_ms`. Anomalies of every
//! kind the detectors look for are injected and written down as [`Truth`]; invalid records
//! of every kind ingest rejects are injected and counted by reason.

use crate::model::{Customer, CustomerRecord, Truth};
use std::collections::{BTreeMap, VecDeque};

/// splitmix64: small, fast, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const COUNTRIES: [&str; 12] = [
    "FR", "DE", "GB", "ES", "IT", "NL", "BE", "PT", "SE", "PL", "IE", "AT",
];
const FAR_COUNTRIES: [&str; 6] = ["BR", "NG", "VN", "RU", "KZ", "PE"];
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The detectors' names, as alerts and truth carry them.
pub mod kinds {
    /// Amount far above the customer's usual spend.
    pub const AMOUNT_SPIKE: &str = "amount-spike";
    /// Many records in a short time.
    pub const VELOCITY: &str = "velocity";
    /// A country and device never seen for this customer.
    pub const NEW_COUNTRY_DEVICE: &str = "new-country-device";
    /// A long-dormant account suddenly active.
    pub const DORMANT: &str = "dormant";
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Seed.
    pub seed: u64,
    /// Number of customers.
    pub customers: usize,
    /// Number of records (valid and invalid) to generate.
    pub records: u64,
    /// Average records per day of event time.
    pub per_day: f64,
    /// Peak rate over the average.
    pub peak: f64,
    /// Event time of the first record, ms.
    pub start_ms: i64,
    /// Fraction of records that are invalid.
    pub invalid: f64,
    /// Per record, the chance that it starts an anomaly of each kind.
    pub anomaly: f64,
    /// Records in a velocity burst, and their spacing in ms.
    pub burst: (u64, i64),
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 7,
            customers: 50_000,
            records: 200_000,
            per_day: 25_000_000.0,
            peak: 1.6,
            start_ms: 1_793_491_200_000, // 2026-11-01T00:00Z
            invalid: 0.005,
            anomaly: 0.0004,
            burst: (20, 1_500),
        }
    }
}

/// One generated record: key and value bytes as they go to `customer-records`.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Key (the customer id, or whatever a broken producer sent).
    pub key: Option<String>,
    /// Value bytes, possibly not JSON at all.
    pub value: Option<Vec<u8>>,
    /// Event time (for valid records; garbage takes the current time).
    pub ts: i64,
}

fn truth(kind: &str, r: &CustomerRecord) -> Truth {
    Truth {
        detector: kind.into(),
        customer_id: r.customer_id.clone(),
        record_ids: vec![r.record_id.clone()],
        from_ts: r.ts,
        to_ts: r.ts,
    }
}

/// The generator: customers, then a stream of records.
pub struct Generator {
    cfg: GeneratorConfig,
    rng: Rng,
    customers: Vec<Customer>,
    /// Cumulative activity weights of active customers, for weighted picks.
    cumulative: Vec<(f64, usize)>,
    dormant: Vec<usize>,
    clock: f64,
    emitted: u64,
    next_id: u64,
    bursts: VecDeque<(i64, usize, usize)>,
    truth: Vec<Truth>,
    invalid: BTreeMap<&'static str, u64>,
    /// Customers already used for an anomaly: one anomaly per customer keeps scoring exact.
    used: std::collections::HashSet<usize>,
}

impl Generator {
    /// Makes the customers.
    pub fn new(cfg: GeneratorConfig) -> Self {
        let mut rng = Rng(cfg.seed);
        let mut customers = Vec::with_capacity(cfg.customers);
        let mut dormant = Vec::new();
        for i in 0..cfg.customers {
            let is_dormant = rng.below(100) < 2;
            let devices = (0..1 + rng.below(3))
                .map(|_| format!("dev-{:08x}", rng.next_u64() as u32))
                .collect();
            let last_active = if is_dormant {
                cfg.start_ms - (90 + rng.below(300) as i64) * DAY_MS
            } else {
                cfg.start_ms - rng.below(3 * DAY_MS as u64) as i64
            };
            customers.push(Customer {
                id: format!("c{i:07}"),
                home_country: rng.pick(&COUNTRIES).to_string(),
                devices,
                typical_spend: (20.0 * (1.2 * rng.normal()).exp()).clamp(2.0, 2_000.0),
                activity: if is_dormant {
                    0.0
                } else {
                    0.3 + 2.7 * rng.unit()
                },
                last_active,
            });
            if is_dormant {
                dormant.push(i);
            }
        }
        let mut acc = 0.0;
        let cumulative = customers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.activity > 0.0)
            .map(|(i, c)| {
                acc += c.activity;
                (acc, i)
            })
            .collect();
        Generator {
            clock: cfg.start_ms as f64,
            cfg,
            rng,
            customers,
            cumulative,
            dormant,
            emitted: 0,
            next_id: 0,
            bursts: VecDeque::new(),
            truth: Vec::new(),
            invalid: BTreeMap::new(),
            used: Default::default(),
        }
    }

    /// The customer profiles.
    pub fn customers(&self) -> &[Customer] {
        &self.customers
    }

    /// The anomalies injected so far.
    pub fn truth(&self) -> &[Truth] {
        &self.truth
    }

    /// Invalid records injected so far, by reason.
    pub fn invalid(&self) -> &BTreeMap<&'static str, u64> {
        &self.invalid
    }

    /// Records generated so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Event time of the last record.
    pub fn clock_ms(&self) -> i64 {
        self.clock as i64
    }

    fn advance_clock(&mut self) {
        let hour = ((self.clock as i64 - self.cfg.start_ms).rem_euclid(DAY_MS)) as f64 / 3.6e6;
        let curve =
            1.0 + (self.cfg.peak - 1.0) * (2.0 * std::f64::consts::PI * (hour - 9.0) / 24.0).sin();
        let per_ms = self.cfg.per_day / DAY_MS as f64 * curve.max(0.05);
        self.clock += 1.0 / per_ms;
    }

    /// Whether a whole burst fits in the records still to come (with room to spare at
    /// the peak rate), so that no burst is cut short by the end of the stream.
    fn burst_fits(&self) -> bool {
        let (n, gap) = self.cfg.burst;
        let per_ms = self.cfg.per_day / DAY_MS as f64 * self.cfg.peak;
        let needed = (n as f64 * gap as f64 * per_ms * 2.0) as u64;
        self.cfg.records.saturating_sub(self.emitted) > needed
    }

    fn active_customer(&mut self) -> usize {
        let total = self.cumulative.last().map_or(0.0, |c| c.0);
        let x = self.rng.unit() * total;
        let at = self.cumulative.partition_point(|(acc, _)| *acc < x);
        self.cumulative
            .get(at.min(self.cumulative.len().saturating_sub(1)))
            .map_or(0, |c| c.1)
    }

    fn record(&mut self, c: usize, ts: i64, wall_ms: i64) -> CustomerRecord {
        self.next_id += 1;
        let cust = &self.customers[c];
        let amount = cust.typical_spend * (0.35 * self.rng.normal()).exp();
        CustomerRecord {
            record_id: format!("r{:010}", self.next_id),
            customer_id: cust.id.clone(),
            ts,
            amount: (amount * 100.0).round() / 100.0,
            currency: "EUR".into(),
            country: cust.home_country.clone(),
            device: self.rng.pick(&cust.devices).clone(),
            sent_ms: wall_ms,
        }
    }

    fn fresh_customer(&mut self) -> Option<usize> {
        for _ in 0..20 {
            let c = self.active_customer();
            if self.used.insert(c) {
                return Some(c);
            }
        }
        None
    }

    fn valid(&mut self, r: CustomerRecord) -> Generated {
        let ts = r.ts;
        Generated {
            key: Some(r.customer_id.clone()),
            value: serde_json::to_vec(&r).ok(),
            ts,
        }
    }

    /// The next record, with `wall_ms` as its send time; `None` once `records` are out.
    pub fn next(&mut self, wall_ms: i64) -> Option<Generated> {
        if self.emitted >= self.cfg.records {
            return None;
        }
        self.emitted += 1;
        self.advance_clock();
        let now = self.clock as i64;
        // A burst record that is due goes first, so event time stays in order.
        if let Some(&(due, c, left)) = self.bursts.front() {
            if due <= now {
                self.bursts.pop_front();
                let r = self.record(c, due, wall_ms);
                if let Some(t) = self
                    .truth
                    .iter_mut()
                    .rev()
                    .find(|t| t.detector == kinds::VELOCITY && t.customer_id == r.customer_id)
                {
                    t.record_ids.push(r.record_id.clone());
                    t.to_ts = r.ts;
                }
                if left > 1 {
                    let at = self
                        .bursts
                        .partition_point(|b| b.0 <= due + self.cfg.burst.1);
                    self.bursts
                        .insert(at, (due + self.cfg.burst.1, c, left - 1));
                }
                return Some(self.valid(r));
            }
        }
        let roll = self.rng.unit();
        if roll < self.cfg.invalid {
            return Some(self.garbage(wall_ms));
        }
        let a = self.cfg.anomaly;
        let roll = self.rng.unit();
        if roll < a {
            if let Some(c) = self.fresh_customer() {
                let mut r = self.record(c, now, wall_ms);
                r.amount =
                    (self.customers[c].typical_spend * (12.0 + 18.0 * self.rng.unit()) * 100.0)
                        .round()
                        / 100.0;
                self.truth.push(truth(kinds::AMOUNT_SPIKE, &r));
                return Some(self.valid(r));
            }
        } else if roll < 2.0 * a {
            if let Some(c) = self.fresh_customer() {
                let mut r = self.record(c, now, wall_ms);
                r.country = self.rng.pick(&FAR_COUNTRIES).to_string();
                r.device = format!("dev-new-{:08x}", self.rng.next_u64() as u32);
                self.truth.push(truth(kinds::NEW_COUNTRY_DEVICE, &r));
                return Some(self.valid(r));
            }
        } else if roll < 3.0 * a && self.burst_fits() {
            if let Some(c) = self.fresh_customer() {
                let (n, gap) = self.cfg.burst;
                let r = self.record(c, now, wall_ms);
                self.truth.push(truth(kinds::VELOCITY, &r));
                let at = self.bursts.partition_point(|b| b.0 <= now + gap);
                self.bursts.insert(at, (now + gap, c, n as usize - 1));
                return Some(self.valid(r));
            }
        } else if roll < 4.0 * a {
            if let Some(c) = self.dormant.pop() {
                let r = self.record(c, now, wall_ms);
                self.truth.push(truth(kinds::DORMANT, &r));
                return Some(self.valid(r));
            }
        }
        let c = self.active_customer();
        let r = self.record(c, now, wall_ms);
        Some(self.valid(r))
    }

    /// An invalid record of a random kind.
    fn garbage(&mut self, wall_ms: i64) -> Generated {
        let c = self.active_customer();
        let now = self.clock as i64;
        let r = self.record(c, now, wall_ms);
        let key = Some(r.customer_id.clone());
        let json = serde_json::to_value(&r).unwrap_or_default();
        let (reason, key, value): (&'static str, Option<String>, Option<Vec<u8>>) =
            match self.rng.below(7) {
                0 => (
                    "malformed json",
                    key,
                    Some(b"{\"record_id\": \"r1\", \"amount\": ".to_vec()),
                ),
                1 => {
                    let mut v = json;
                    if let Some(m) = v.as_object_mut() {
                        m.remove("amount");
                    }
                    ("missing field", key, serde_json::to_vec(&v).ok())
                }
                2 => {
                    let mut r = r;
                    r.customer_id = format!("x{:07}", self.rng.below(10_000_000));
                    (
                        "unknown customer",
                        Some(r.customer_id.clone()),
                        serde_json::to_vec(&r).ok(),
                    )
                }
                3 => {
                    let mut r = r;
                    r.amount = -r.amount.abs() - 1.0;
                    ("negative amount", key, serde_json::to_vec(&r).ok())
                }
                4 => ("null value", key, None),
                5 => ("not utf-8", key, Some(vec![0xff, 0xfe, 0x00, 0x81])),
                _ => {
                    let mut v = json;
                    if let Some(m) = v.as_object_mut() {
                        m.insert("ts".into(), serde_json::Value::String("yesterday".into()));
                    }
                    ("wrong type", key, serde_json::to_vec(&v).ok())
                }
            };
        *self.invalid.entry(reason).or_default() += 1;
        Generated {
            key,
            value,
            ts: now,
        }
    }

    /// Invalid records injected so far.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_curve_averages_the_configured_rate() {
        // One day's worth of records spans one day of event time, with four times as
        // many records in the peak hour (15:00) as in the trough (03:00) at peak 1.6.
        let mut g = Generator::new(GeneratorConfig {
            records: 100_000,
            customers: 1_000,
            per_day: 100_000.0,
            anomaly: 0.0,
            ..Default::default()
        });
        let mut per_hour = [0u64; 24];
        while let Some(r) = g.next(0) {
            let hour = (r.ts - g.cfg.start_ms).rem_euclid(DAY_MS) / 3_600_000;
            per_hour[hour as usize] += 1;
        }
        let span = (g.clock_ms() - g.cfg.start_ms) as f64 / DAY_MS as f64;
        assert!((0.98..1.02).contains(&span), "{span} days");
        let ratio = per_hour[15] as f64 / per_hour[3] as f64;
        assert!(
            (3.5..4.5).contains(&ratio),
            "peak/trough {ratio}: {per_hour:?}"
        );
    }

    #[test]
    fn anomalies_and_garbage_are_recorded() {
        let mut g = Generator::new(GeneratorConfig {
            records: 200_000,
            customers: 20_000,
            ..Default::default()
        });
        while g.next(0).is_some() {}
        for kind in [
            kinds::AMOUNT_SPIKE,
            kinds::VELOCITY,
            kinds::NEW_COUNTRY_DEVICE,
            kinds::DORMANT,
        ] {
            let n = g.truth().iter().filter(|t| t.detector == kind).count();
            assert!(n >= 20, "{kind}: {n}");
        }
        assert_eq!(g.invalid().len(), 7, "{:?}", g.invalid());
        assert!(g.invalid_total() > 500);
    }
}
