//! The generator's tests: the daily curve, anomalies, look-alikes (rate, labels,
//! determinism, anomalies left alone) and the per-customer density bound.

use super::*;
use std::collections::HashMap;

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
    for kind in kinds::ALL {
        let n = g.truth().iter().filter(|t| t.detector == kind).count();
        assert!(n >= 20, "{kind}: {n}");
    }
    assert_eq!(g.invalid().len(), 7, "{:?}", g.invalid());
    assert!(g.invalid_total() > 500);
}

/// Runs a generator to the end; returns it with its valid records by id.
fn run(cfg: GeneratorConfig) -> (Generator, Vec<Generated>, HashMap<String, CustomerRecord>) {
    let mut g = Generator::new(cfg);
    let mut out = Vec::new();
    while let Some(r) = g.next(0) {
        out.push(r);
    }
    let records = out
        .iter()
        .filter_map(|r| serde_json::from_slice::<CustomerRecord>(r.value.as_deref()?).ok())
        .filter(|r| r.amount >= 0.0)
        .map(|r| (r.record_id.clone(), r))
        .collect();
    (g, out, records)
}

fn count(g: &Generator, lookalike: &str) -> usize {
    g.truth()
        .iter()
        .filter(|t| t.lookalike.as_deref() == Some(lookalike))
        .count()
}

#[test]
fn lookalikes_appear_at_the_configured_rate() {
    for rate in [0.001, 0.0003] {
        let (g, _, _) = run(GeneratorConfig {
            lookalike: rate,
            ..Default::default()
        });
        let expected = rate * 200_000.0;
        for kind in lookalikes::ALL {
            let n = count(&g, kind) as f64;
            // Within three standard deviations of the Poisson count.
            assert!(
                (n - expected).abs() <= 3.0 * expected.sqrt(),
                "{kind} at {rate}: {n} episodes, about {expected} expected"
            );
        }
    }
    let (g, _, _) = run(GeneratorConfig {
        lookalike: 0.0,
        ..Default::default()
    });
    assert_eq!(g.truth().iter().filter(|t| t.is_lookalike()).count(), 0);
}

#[test]
fn lookalikes_are_labelled_with_what_they_look_like() {
    let (g, _, records) = run(GeneratorConfig::default());
    let profile: HashMap<&str, &Customer> =
        g.customers().iter().map(|c| (c.id.as_str(), c)).collect();
    let mut customers = HashSet::new();
    for t in g.truth() {
        assert!(
            customers.insert(t.customer_id.clone()),
            "one episode per customer: {t:?}"
        );
        let Some(kind) = t.lookalike.as_deref() else {
            assert_ne!(t.detector, lookalikes::BENIGN, "{t:?}");
            continue;
        };
        assert_eq!(t.detector, lookalikes::BENIGN, "{t:?}");
        assert!(!t.record_ids.is_empty(), "{t:?}");
        let c = profile[t.customer_id.as_str()];
        let rs: Vec<&CustomerRecord> = t.record_ids.iter().map(|id| &records[id]).collect();
        assert!(rs.iter().all(|r| r.customer_id == c.id), "{t:?}");
        assert_eq!(
            (rs[0].ts, rs[rs.len() - 1].ts),
            (t.from_ts, t.to_ts),
            "{t:?}"
        );
        let known = |r: &CustomerRecord| c.devices.contains(&r.device);
        let home = |r: &CustomerRecord| r.country == c.home_country;
        match kind {
            lookalikes::TRAVEL => {
                assert!(rs.iter().all(|r| !home(r) && known(r)), "{t:?} {rs:?}");
                assert!(rs.iter().all(|r| r.country == rs[0].country), "{rs:?}");
            }
            lookalikes::LARGE_PURCHASE => {
                assert_eq!(rs.len(), 1);
                assert!(home(rs[0]) && known(rs[0]), "{rs:?}");
                assert!(rs[0].amount >= 2.49 * c.typical_spend, "{rs:?} {c:?}");
            }
            lookalikes::PHONE_UPGRADE => {
                assert!(rs.iter().all(|r| home(r) && !known(r)), "{rs:?}");
                assert!(rs.iter().all(|r| r.device == rs[0].device), "{rs:?}");
            }
            lookalikes::SHOPPING_BURST => {
                // Cut short only at the end of the stream.
                let cut = t.to_ts > g.clock_ms() - 10 * 60_000;
                assert!((4..=16).contains(&rs.len()) || cut, "{t:?}");
                assert!(rs.iter().all(|r| home(r) && known(r)), "{rs:?}");
                assert!(rs.windows(2).all(|w| w[1].ts - w[0].ts >= 1_000), "{rs:?}");
                assert!(t.to_ts - t.from_ts < 10 * 60_000, "{t:?}");
            }
            lookalikes::RETURNING => {
                assert_eq!(rs.len(), 1);
                let away = (rs[0].ts - c.last_active) / DAY_MS;
                assert!((14..=113).contains(&away), "{away} days: {c:?}");
                assert!(home(rs[0]) && known(rs[0]), "{rs:?}");
            }
            other => panic!("unknown look-alike {other}"),
        }
    }
    // Every look-alike record is valid, and the large purchases reach into the anomalies'
    // range sometimes, as real ones do.
    let large: Vec<f64> = g
        .truth()
        .iter()
        .filter(|t| t.lookalike.as_deref() == Some(lookalikes::LARGE_PURCHASE))
        .map(|t| {
            let r = &records[&t.record_ids[0]];
            r.amount / profile[r.customer_id.as_str()].typical_spend
        })
        .collect();
    assert!(large.iter().any(|&x| x > 12.0), "{large:?}");
    assert!(large.iter().filter(|&&x| x < 7.0).count() > large.len() / 2);
}

#[test]
fn the_generator_is_deterministic_per_seed() {
    let cfg = GeneratorConfig {
        records: 50_000,
        customers: 5_000,
        ..Default::default()
    };
    let (a, out_a, _) = run(cfg.clone());
    let (b, out_b, _) = run(cfg.clone());
    let (c, out_c, _) = run(GeneratorConfig { seed: 8, ..cfg });
    let same = |x: &[Generated], y: &[Generated]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|(p, q)| (&p.key, &p.value, p.ts) == (&q.key, &q.value, q.ts))
    };
    assert!(same(&out_a, &out_b));
    assert_eq!(a.truth(), b.truth());
    assert!(a.truth().iter().any(|t| t.is_lookalike()));
    assert!(!same(&out_a, &out_c));
    assert_ne!(a.truth(), c.truth());
}

#[test]
fn lookalikes_leave_the_anomalies_alone() {
    let cfg = GeneratorConfig::default();
    let (with, _, records) = run(cfg.clone());
    let (without, _, _) = run(GeneratorConfig {
        lookalike: 0.0,
        ..cfg
    });
    let profile: HashMap<&str, &Customer> = with
        .customers()
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    for kind in kinds::ALL {
        // 80 expected of each; fewer bursts, which must end before the stream does: a
        // card test lasts minutes, which at 25M records a day is most of these 200,000
        // records, so only those starting in the first quarter or so fit.
        let expected = if kind == kinds::CARD_TESTING {
            10..=40
        } else {
            55..=105
        };
        let n = |g: &Generator| g.anomalies().filter(|t| t.detector == kind).count();
        let (a, b) = (n(&with), n(&without));
        println!("{kind}: {a} with look-alikes, {b} without");
        assert!(
            expected.contains(&a) && expected.contains(&b),
            "{kind}: {a} vs {b}"
        );
    }
    for t in with.anomalies() {
        let c = profile[t.customer_id.as_str()];
        let rs: Vec<&CustomerRecord> = t.record_ids.iter().map(|id| &records[id]).collect();
        let r = rs[0];
        match t.detector.as_str() {
            kinds::AMOUNT_SPIKE => assert!(r.amount >= 11.9 * c.typical_spend, "{r:?}"),
            kinds::NEW_COUNTRY_DEVICE => {
                assert!(FAR_COUNTRIES.contains(&r.country.as_str()), "{r:?}");
                assert!(!c.devices.contains(&r.device), "{r:?}");
            }
            kinds::VELOCITY => assert_eq!(rs.len(), 20, "{t:?}"),
            kinds::DORMANT => assert!(r.ts - c.last_active >= 90 * DAY_MS, "{r:?}"),
            kinds::CARD_TESTING => {
                assert_eq!(rs.len(), 4, "{t:?}");
                assert!(rs.iter().all(|r| r.amount <= 1.0), "{rs:?}");
                assert!(rs.windows(2).all(|w| w[1].ts - w[0].ts >= 10_000), "{rs:?}");
            }
            other => panic!("unknown anomaly {other}"),
        }
        // Ordinary otherwise: at home, on a known device (but the one that is not).
        if t.detector != kinds::NEW_COUNTRY_DEVICE {
            assert!(
                rs.iter()
                    .all(|r| r.country == c.home_country && c.devices.contains(&r.device)),
                "{rs:?}"
            );
        }
    }
}

#[test]
fn a_small_population_is_not_a_crowd_of_bursts() {
    // 5,000 records over 500 customers at the default 25M a day once spanned 30 s of
    // event time: ten records per customer, a velocity burst each. Now the day is
    // stretched to 500 records per customer, a few minutes between two records of one
    // customer.
    let (g, _, records) = run(GeneratorConfig {
        records: 5_000,
        customers: 500,
        anomaly: 0.0,
        lookalike: 0.0,
        ..Default::default()
    });
    let mut by_customer: HashMap<&str, Vec<i64>> = HashMap::new();
    for r in records.values() {
        by_customer.entry(&r.customer_id).or_default().push(r.ts);
    }
    let busiest_minute = by_customer
        .values_mut()
        .map(|ts| {
            ts.sort_unstable();
            (0..ts.len())
                .map(|i| ts[i..].partition_point(|&t| t < ts[i] + 60_000))
                .max()
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    assert!(busiest_minute <= 6, "{busiest_minute} records in a minute");
    assert_eq!(g.per_day(), 500.0 * MAX_PER_CUSTOMER_DAY);
    // The default population is not affected.
    let g = Generator::new(GeneratorConfig::default());
    assert_eq!(g.per_day(), 25_000_000.0);
}
