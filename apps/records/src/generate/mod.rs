//! Synthetic customers and records, with labelled anomalies, labelled benign look-alikes
//! and invalid input.
//!
//! Event time follows a daily curve averaging `per_day` records a day (peak at 15:00 at
//! `peak` times the average, trough at 03:00), starting at `start_ms`. Anomalies of every
//! kind the detectors look for are injected and written down as [`Truth`]. So are benign
//! look-alikes ([`lookalikes`]): ordinary behaviour that shares some of an anomaly's
//! features (a trip abroad, a new phone, one large purchase, a shopping spree, a customer
//! back after weeks away), which a detector may flag but should not. Invalid records of
//! every kind ingest rejects are injected and counted by reason.
//!
//! Customers are never busier than [`MAX_PER_CUSTOMER_DAY`] records a day on average:
//! `per_day` is lowered to that times the number of customers when it asks for more.
//! Without that bound a small population at the default `per_day` made every customer
//! produce dozens of records a minute, so that ordinary traffic was itself a velocity burst
//! (5,000 records over 500 customers spanned 30 s of event time, about 10 records per
//! customer, and the velocity detector rightly raised 461 alerts).

mod benign;
mod garbage;
#[cfg(test)]
mod tests;

use crate::model::{Customer, CustomerRecord, Truth};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

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
    /// Exponentially distributed with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -(1.0 - self.unit()).ln() * mean
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const COUNTRIES: [&str; 12] = [
    "FR", "DE", "GB", "ES", "IT", "NL", "BE", "PT", "SE", "PL", "IE", "AT",
];
const FAR_COUNTRIES: [&str; 6] = ["BR", "NG", "VN", "RU", "KZ", "PE"];
/// Where travellers go when they leave Europe (some of these are also where fraud comes
/// from).
const HOLIDAY_COUNTRIES: [&str; 8] = ["US", "TH", "MA", "TR", "JP", "BR", "VN", "MX"];
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The most records a day the generator makes per customer on average (the default: 25M a
/// day over 50,000 customers); see the module docs.
pub const MAX_PER_CUSTOMER_DAY: f64 = 500.0;

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
    /// Card testing: a stolen card tried with a few tiny amounts minutes apart, before the
    /// real spending starts.
    pub const CARD_TESTING: &str = "card-testing";
    /// Every kind, in the order the generator rolls them.
    pub const ALL: [&str; 5] = [
        AMOUNT_SPIKE,
        NEW_COUNTRY_DEVICE,
        VELOCITY,
        DORMANT,
        CARD_TESTING,
    ];
}

/// Records in a card test, and the range of the wait between two of them, ms.
const CARD_TEST: (usize, std::ops::Range<i64>) = (4, 10_000..40_000);

/// Benign look-alikes: what [`Truth::lookalike`] holds. Each shares some features with an
/// anomaly without being one.
pub mod lookalikes {
    /// What [`Truth::detector`](crate::model::Truth::detector) holds for a look-alike.
    pub const BENIGN: &str = "benign";
    /// A trip: the customer's records for some days come from another country, on the
    /// customer's usual devices (mostly elsewhere in Europe, sometimes further).
    pub const TRAVEL: &str = "travel";
    /// One large legitimate purchase: a single amount several times the usual spend
    /// (median 5x, sometimes 20x), at home, on a usual device.
    pub const LARGE_PURCHASE: &str = "large-purchase";
    /// A new phone: from now on the customer's phone is a device never seen before, at
    /// home; the customer's other devices stay in use.
    pub const PHONE_UPGRADE: &str = "phone-upgrade";
    /// A sale or seasonal shopping spree: 4 to 16 ordinary purchases a few seconds apart
    /// (1 s plus an exponential wait of mean 5 s), at home, on a usual device.
    pub const SHOPPING_BURST: &str = "shopping-burst";
    /// An occasional customer back after 2 to 16 weeks without activity.
    pub const RETURNING: &str = "returning";
    /// Every kind, in the order the generator rolls them.
    pub const ALL: [&str; 5] = [
        TRAVEL,
        LARGE_PURCHASE,
        PHONE_UPGRADE,
        SHOPPING_BURST,
        RETURNING,
    ];
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
    /// Average records per day of event time (at most [`MAX_PER_CUSTOMER_DAY`] per
    /// customer; see the module docs).
    pub per_day: f64,
    /// Peak rate over the average.
    pub peak: f64,
    /// Event time of the first record, ms.
    pub start_ms: i64,
    /// Fraction of records that are invalid.
    pub invalid: f64,
    /// Per record, the chance that it starts an anomaly of each kind.
    pub anomaly: f64,
    /// Per record, the chance that it starts a benign look-alike of each kind
    /// ([`lookalikes::ALL`]); 0 generates none and draws no random number for them.
    pub lookalike: f64,
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
            // Two and a half times the anomaly rate for each kind: benign look-alikes
            // outnumber fraud (in real traffic by far more than this).
            lookalike: 0.001,
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

/// What a burst is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Burst {
    /// A velocity anomaly: ordinary records at a fixed short spacing.
    Velocity,
    /// A shopping spree (a look-alike): ordinary records at random short gaps.
    Shopping,
    /// Card testing: tiny amounts, tens of seconds apart.
    CardTest,
}

/// A record still to come of a burst.
#[derive(Debug, Clone)]
struct Pending {
    due: i64,
    customer: usize,
    left: usize,
    /// Index of its episode in the truth.
    episode: usize,
    /// What kind of burst.
    kind: Burst,
}

/// The generator: customers, then a stream of records.
pub struct Generator {
    cfg: GeneratorConfig,
    /// `cfg.per_day`, bounded by [`MAX_PER_CUSTOMER_DAY`].
    per_day: f64,
    rng: Rng,
    customers: Vec<Customer>,
    /// Cumulative activity weights of active customers, for weighted picks.
    cumulative: Vec<(f64, usize)>,
    dormant: Vec<usize>,
    /// Occasional customers, away for weeks: they come back as `returning` look-alikes.
    occasional: Vec<usize>,
    clock: f64,
    emitted: u64,
    next_id: u64,
    pending: VecDeque<Pending>,
    truth: Vec<Truth>,
    invalid: BTreeMap<&'static str, u64>,
    /// Customers already used for an anomaly or a look-alike: one episode per customer
    /// keeps scoring exact.
    used: HashSet<usize>,
    /// Customers abroad: where, until when, and the episode.
    trips: HashMap<usize, benign::Trip>,
    /// Customers with a new phone, and the episode.
    upgrades: HashMap<usize, benign::Upgrade>,
}

impl Generator {
    /// Makes the customers.
    pub fn new(cfg: GeneratorConfig) -> Self {
        let mut rng = Rng(cfg.seed);
        let mut customers = Vec::with_capacity(cfg.customers);
        let mut dormant = Vec::new();
        let mut occasional = Vec::new();
        for i in 0..cfg.customers {
            let kind = rng.below(100);
            let (is_dormant, is_occasional) = (kind < 2, (2..5).contains(&kind));
            let devices = (0..1 + rng.below(3))
                .map(|_| format!("dev-{:08x}", rng.next_u64() as u32))
                .collect();
            let last_active = if is_dormant {
                cfg.start_ms - (90 + rng.below(300) as i64) * DAY_MS
            } else if is_occasional {
                cfg.start_ms
                    - (14 + rng.below(99) as i64) * DAY_MS
                    - rng.below(DAY_MS as u64) as i64
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
                } else if is_occasional {
                    0.02 + 0.1 * rng.unit()
                } else {
                    0.3 + 2.7 * rng.unit()
                },
                last_active,
            });
            if is_dormant {
                dormant.push(i);
            } else if is_occasional {
                occasional.push(i);
            }
        }
        let mut acc = 0.0;
        let cumulative = customers
            .iter()
            .enumerate()
            .filter(|(i, c)| c.activity > 0.0 && occasional.binary_search(i).is_err())
            .map(|(i, c)| {
                acc += c.activity;
                (acc, i)
            })
            .collect();
        Generator {
            clock: cfg.start_ms as f64,
            per_day: cfg
                .per_day
                .min(cfg.customers.max(1) as f64 * MAX_PER_CUSTOMER_DAY),
            cfg,
            rng,
            customers,
            cumulative,
            dormant,
            occasional,
            emitted: 0,
            next_id: 0,
            pending: VecDeque::new(),
            truth: Vec::new(),
            invalid: BTreeMap::new(),
            used: HashSet::new(),
            trips: HashMap::new(),
            upgrades: HashMap::new(),
        }
    }

    /// The customer profiles.
    pub fn customers(&self) -> &[Customer] {
        &self.customers
    }

    /// The labelled episodes so far: the injected anomalies and the benign look-alikes
    /// ([`Truth::is_lookalike`]).
    pub fn truth(&self) -> &[Truth] {
        &self.truth
    }

    /// The injected anomalies so far (the truth without the look-alikes).
    pub fn anomalies(&self) -> impl Iterator<Item = &Truth> {
        self.truth.iter().filter(|t| !t.is_lookalike())
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

    /// Average records per day of event time: `per_day`, bounded by
    /// [`MAX_PER_CUSTOMER_DAY`] per customer.
    pub fn per_day(&self) -> f64 {
        self.per_day
    }

    fn advance_clock(&mut self) {
        let hour = ((self.clock as i64 - self.cfg.start_ms).rem_euclid(DAY_MS)) as f64 / 3.6e6;
        let curve =
            1.0 + (self.cfg.peak - 1.0) * (2.0 * std::f64::consts::PI * (hour - 9.0) / 24.0).sin();
        let per_ms = self.per_day / DAY_MS as f64 * curve.max(0.05);
        self.clock += 1.0 / per_ms;
    }

    /// Whether a burst lasting `span_ms` of event time fits in the records still to come
    /// (with room to spare at the peak rate), so that no burst is cut short by the end of
    /// the stream.
    fn fits(&self, span_ms: f64) -> bool {
        let per_ms = self.per_day / DAY_MS as f64 * self.cfg.peak;
        let needed = (span_ms * per_ms * 2.0) as u64;
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

    /// An ordinary record of customer `c` as the profile describes it: at home, on one of
    /// the profile's devices, around the typical spend.
    fn record(&mut self, c: usize, ts: i64, wall_ms: i64) -> CustomerRecord {
        self.next_id += 1;
        let cust = &self.customers[c];
        let amount = cust.typical_spend * (0.35 * self.rng.normal()).exp();
        CustomerRecord {
            record_id: format!("r{:010}", self.next_id),
            customer_id: cust.id.clone(),
            ts,
            amount: round_cents(amount),
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

    /// Opens an episode of the truth for customer `c` at `ts`; its records are attached
    /// as they come. Returns its index.
    fn open(&mut self, detector: &str, lookalike: Option<&str>, c: usize, ts: i64) -> usize {
        self.truth.push(Truth {
            detector: detector.into(),
            customer_id: self.customers[c].id.clone(),
            record_ids: Vec::new(),
            from_ts: ts,
            to_ts: ts,
            lookalike: lookalike.map(str::to_string),
        });
        self.truth.len() - 1
    }

    /// Adds record `r` to episode `episode`.
    fn attach(&mut self, episode: usize, r: &CustomerRecord) {
        let t = &mut self.truth[episode];
        t.record_ids.push(r.record_id.clone());
        t.to_ts = t.to_ts.max(r.ts);
    }

    /// An anomaly of `kind` made of record `r` alone.
    fn anomaly(&mut self, kind: &str, c: usize, r: &CustomerRecord) {
        let episode = self.open(kind, None, c, r.ts);
        self.attach(episode, r);
    }

    fn schedule(&mut self, p: Pending) {
        let at = self.pending.partition_point(|b| b.due <= p.due);
        self.pending.insert(at, p);
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
        if self.pending.front().is_some_and(|p| p.due <= now) {
            let p = self.pending.pop_front()?;
            let r = match p.kind {
                Burst::Shopping => self.ordinary(p.customer, p.due, wall_ms),
                Burst::Velocity => self.record(p.customer, p.due, wall_ms),
                Burst::CardTest => self.card_test(p.customer, p.due, wall_ms),
            };
            self.attach(p.episode, &r);
            if p.left > 1 {
                let gap = match p.kind {
                    Burst::Shopping => self.shopping_gap(),
                    Burst::Velocity => self.cfg.burst.1,
                    Burst::CardTest => self.card_test_gap(),
                };
                self.schedule(Pending {
                    due: p.due + gap,
                    left: p.left - 1,
                    ..p
                });
            }
            return Some(self.valid(r));
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
                    round_cents(self.customers[c].typical_spend * (12.0 + 18.0 * self.rng.unit()));
                self.anomaly(kinds::AMOUNT_SPIKE, c, &r);
                return Some(self.valid(r));
            }
        } else if roll < 2.0 * a {
            if let Some(c) = self.fresh_customer() {
                let mut r = self.record(c, now, wall_ms);
                r.country = self.rng.pick(&FAR_COUNTRIES).to_string();
                r.device = format!("dev-new-{:08x}", self.rng.next_u64() as u32);
                self.anomaly(kinds::NEW_COUNTRY_DEVICE, c, &r);
                return Some(self.valid(r));
            }
        } else if roll < 3.0 * a {
            let (n, gap) = self.cfg.burst;
            if self.fits(n as f64 * gap as f64) {
                if let Some(c) = self.fresh_customer() {
                    let r = self.record(c, now, wall_ms);
                    self.anomaly(kinds::VELOCITY, c, &r);
                    let episode = self.truth.len() - 1;
                    self.schedule(Pending {
                        due: now + gap,
                        customer: c,
                        left: n as usize - 1,
                        episode,
                        kind: Burst::Velocity,
                    });
                    return Some(self.valid(r));
                }
            }
        } else if roll < 4.0 * a {
            if let Some(c) = self.dormant.pop() {
                let r = self.record(c, now, wall_ms);
                self.anomaly(kinds::DORMANT, c, &r);
                return Some(self.valid(r));
            }
        } else if roll < 5.0 * a {
            let (n, gaps) = CARD_TEST;
            if self.fits((n as i64 * gaps.end) as f64) {
                if let Some(c) = self.fresh_customer() {
                    let r = self.card_test(c, now, wall_ms);
                    self.anomaly(kinds::CARD_TESTING, c, &r);
                    let episode = self.truth.len() - 1;
                    let due = now + self.card_test_gap();
                    self.schedule(Pending {
                        due,
                        customer: c,
                        left: n - 1,
                        episode,
                        kind: Burst::CardTest,
                    });
                    return Some(self.valid(r));
                }
            }
        }
        if let Some(r) = self.lookalike(now, wall_ms) {
            return Some(self.valid(r));
        }
        let c = self.active_customer();
        let r = self.ordinary(c, now, wall_ms);
        Some(self.valid(r))
    }

    /// A record of a card test: customer `c`'s usual place and device, an amount of 0.01
    /// to 1.00.
    fn card_test(&mut self, c: usize, ts: i64, wall_ms: i64) -> CustomerRecord {
        let mut r = self.record(c, ts, wall_ms);
        r.amount = round_cents(0.01 + 0.99 * self.rng.unit());
        r
    }

    fn card_test_gap(&mut self) -> i64 {
        let gaps = CARD_TEST.1;
        gaps.start + self.rng.below((gaps.end - gaps.start) as u64) as i64
    }

    /// Invalid records injected so far.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.values().sum()
    }
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
