//! Benign look-alikes: ordinary behaviour that shares some features with an anomaly.
//!
//! None is the anomaly's rule with a flag set: each is what the benign behaviour looks
//! like, and overlaps the anomaly only partly. A trip abroad keeps the customer's devices
//! (fraud from abroad comes on a new one) and lasts days; a new phone is used at home; a
//! large purchase is spread from 2.5 to 20 times the usual spend and beyond (an amount
//! spike is 12 to 30 times); a shopping spree is 4 to 16 ordinary purchases seconds apart, not 20 at
//! a fixed pace; an occasional customer comes back after 2 to 16 weeks, not months or
//! years. Each episode is labelled in the truth with its kind and the records it made.

use super::{lookalikes, Generator, Pending, COUNTRIES, DAY_MS, HOLIDAY_COUNTRIES};
use crate::model::CustomerRecord;

/// A customer abroad.
#[derive(Debug, Clone)]
pub(super) struct Trip {
    country: String,
    until: i64,
    episode: usize,
}

/// A customer with a new phone.
#[derive(Debug, Clone)]
pub(super) struct Upgrade {
    device: String,
    episode: usize,
}

impl Generator {
    /// A record of customer `c` as the customer behaves now: abroad during a trip, on the
    /// new phone (or another of the customer's devices) after an upgrade. Records made
    /// during a trip, and those on a new phone, are attached to that episode.
    pub(super) fn ordinary(&mut self, c: usize, ts: i64, wall_ms: i64) -> CustomerRecord {
        let mut r = self.record(c, ts, wall_ms);
        if let Some(u) = self.upgrades.get(&c) {
            // The phone is the profile's first device; the others (a tablet, a laptop)
            // stay in use.
            let others = self.customers[c].devices.len() - 1;
            let at = self.rng.below(others as u64 + 1) as usize;
            if at == 0 {
                r.device = u.device.clone();
                let episode = u.episode;
                self.attach(episode, &r);
            } else {
                r.device = self.customers[c].devices[at].clone();
            }
        }
        if let Some(t) = self.trips.get(&c) {
            if ts <= t.until {
                r.country = t.country.clone();
                let episode = t.episode;
                self.attach(episode, &r);
            } else {
                self.trips.remove(&c);
            }
        }
        r
    }

    /// Per record, with `cfg.lookalike` chance for each kind, the first record of a
    /// look-alike.
    pub(super) fn lookalike(&mut self, now: i64, wall_ms: i64) -> Option<CustomerRecord> {
        let l = self.cfg.lookalike;
        if l <= 0.0 {
            return None;
        }
        let roll = self.rng.unit();
        let kind = lookalikes::ALL.get((roll / l) as usize)?;
        match *kind {
            lookalikes::TRAVEL => self.travel(now, wall_ms),
            lookalikes::LARGE_PURCHASE => self.large_purchase(now, wall_ms),
            lookalikes::PHONE_UPGRADE => self.phone_upgrade(now, wall_ms),
            lookalikes::SHOPPING_BURST => self.shopping_burst(now, wall_ms),
            _ => self.returning(now, wall_ms),
        }
    }

    fn open_lookalike(&mut self, kind: &str, c: usize, ts: i64) -> usize {
        self.open(lookalikes::BENIGN, Some(kind), c, ts)
    }

    /// A trip of 2 to 14 days: 85% elsewhere in Europe, 15% further away.
    fn travel(&mut self, now: i64, wall_ms: i64) -> Option<CustomerRecord> {
        let c = self.fresh_customer()?;
        let home = self.customers[c].home_country.clone();
        let country = if self.rng.below(100) < 15 {
            self.rng.pick(&HOLIDAY_COUNTRIES).to_string()
        } else {
            let abroad: Vec<&str> = COUNTRIES.into_iter().filter(|&x| x != home).collect();
            self.rng.pick(&abroad).to_string()
        };
        let days = 2 + self.rng.below(13) as i64;
        let episode = self.open_lookalike(lookalikes::TRAVEL, c, now);
        self.trips.insert(
            c,
            Trip {
                country,
                until: now + days * DAY_MS,
                episode,
            },
        );
        Some(self.ordinary(c, now, wall_ms))
    }

    /// One purchase of log-normally many times the typical spend: median 5x, 90% below
    /// 12x, never under 2.5x.
    fn large_purchase(&mut self, now: i64, wall_ms: i64) -> Option<CustomerRecord> {
        let c = self.fresh_customer()?;
        let mut r = self.ordinary(c, now, wall_ms);
        let times = (5f64.ln() + 0.7 * self.rng.normal()).exp().max(2.5);
        r.amount = super::round_cents(self.customers[c].typical_spend * times);
        let episode = self.open_lookalike(lookalikes::LARGE_PURCHASE, c, now);
        self.attach(episode, &r);
        Some(r)
    }

    /// A new phone, first used now, at home; named like every other device.
    fn phone_upgrade(&mut self, now: i64, wall_ms: i64) -> Option<CustomerRecord> {
        let c = self.fresh_customer()?;
        let device = format!("dev-{:08x}", self.rng.next_u64() as u32);
        let episode = self.open_lookalike(lookalikes::PHONE_UPGRADE, c, now);
        let mut r = self.record(c, now, wall_ms);
        r.device = device.clone();
        self.attach(episode, &r);
        self.upgrades.insert(c, Upgrade { device, episode });
        Some(r)
    }

    /// The wait between two purchases of a spree, ms.
    pub(super) fn shopping_gap(&mut self) -> i64 {
        1_000 + self.rng.exponential(5_000.0) as i64
    }

    /// 4 to 16 ordinary purchases, [`Generator::shopping_gap`] apart. One still going on
    /// when the stream ends is cut short: its truth lists the records it made.
    fn shopping_burst(&mut self, now: i64, wall_ms: i64) -> Option<CustomerRecord> {
        let n = 4 + self.rng.below(13) as usize;
        let c = self.fresh_customer()?;
        let episode = self.open_lookalike(lookalikes::SHOPPING_BURST, c, now);
        let r = self.ordinary(c, now, wall_ms);
        self.attach(episode, &r);
        let due = now + self.shopping_gap();
        self.schedule(Pending {
            due,
            customer: c,
            left: n - 1,
            episode,
            kind: super::Burst::Shopping,
        });
        Some(r)
    }

    /// An occasional customer's first record after weeks away (the profile's
    /// `last_active`).
    fn returning(&mut self, now: i64, wall_ms: i64) -> Option<CustomerRecord> {
        let c = self.occasional.pop()?;
        self.used.insert(c);
        let r = self.ordinary(c, now, wall_ms);
        let episode = self.open_lookalike(lookalikes::RETURNING, c, now);
        self.attach(episode, &r);
        Some(r)
    }
}
