//! Scoring detection against the generator's ground truth.
//!
//! Per detector: recall (injected anomalies of its kind with at least one alert), precision
//! (alerts on such an anomaly over all its alerts), and its false alerts split into those on
//! a benign look-alike, by kind, and the others (on ordinary traffic, or on another
//! detector's anomaly).

use crate::model::{Alert, Truth};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How long after an episode's last record an alert of the same customer still counts
/// for it: one minute, the velocity window.
const WITHIN_MS: i64 = 60_000;

/// One detector's alerts on one kind of benign look-alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookalikeHits {
    /// Look-alikes of this kind in the truth.
    pub episodes: usize,
    /// Of those, how many got at least one alert of this detector.
    pub flagged: usize,
    /// The detector's alerts on them (all false).
    pub alerts: usize,
}

/// How one detector did.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorScore {
    /// Detector name.
    pub detector: String,
    /// Anomalies of its kind injected.
    pub injected: usize,
    /// Of those, how many got at least one alert.
    pub found: usize,
    /// Alerts it raised.
    pub alerts: usize,
    /// Alerts that point at a record of an injected anomaly of its kind.
    pub true_alerts: usize,
    /// The anomalies it missed, by customer.
    pub missed: Vec<String>,
    /// Its alerts that match no injected anomaly of its kind: (customer, record).
    pub false_alerts: Vec<(String, String)>,
    /// Of those, the ones on benign look-alikes, by look-alike kind (every kind in the
    /// truth is listed, flagged or not).
    pub lookalikes: BTreeMap<String, LookalikeHits>,
    /// The rest of the false alerts: on no labelled episode, or on another detector's
    /// anomaly: (customer, record).
    pub other_false: Vec<(String, String)>,
}

impl DetectorScore {
    /// Share of its alerts that were right (1 when it raised none and none were due).
    pub fn precision(&self) -> f64 {
        if self.alerts == 0 {
            return if self.injected == 0 { 1.0 } else { 0.0 };
        }
        self.true_alerts as f64 / self.alerts as f64
    }
    /// Share of the injected anomalies it found (1 when none were injected).
    pub fn recall(&self) -> f64 {
        if self.injected == 0 {
            1.0
        } else {
            self.found as f64 / self.injected as f64
        }
    }
    /// Its false alerts on benign look-alikes, all kinds together.
    pub fn false_on_lookalikes(&self) -> usize {
        self.lookalikes.values().map(|h| h.alerts).sum()
    }
}

/// Labelled episodes, indexed for matching alerts to them.
struct Episodes<'a> {
    list: Vec<&'a Truth>,
    by_record: HashMap<&'a str, usize>,
    by_customer: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Episodes<'a> {
    fn new(list: Vec<&'a Truth>) -> Self {
        let mut by_record = HashMap::new();
        let mut by_customer: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, t) in list.iter().enumerate() {
            for r in &t.record_ids {
                by_record.insert(r.as_str(), i);
            }
            by_customer
                .entry(t.customer_id.as_str())
                .or_default()
                .push(i);
        }
        Episodes {
            list,
            by_record,
            by_customer,
        }
    }

    /// The episode `a` is about: the one whose record it points at, or one of the same
    /// customer lasting at its time (a velocity window may cross its threshold on a
    /// customer's ordinary record amid a burst).
    fn find(&self, a: &Alert) -> Option<usize> {
        self.by_record
            .get(a.record_id.as_str())
            .copied()
            .filter(|&i| self.list[i].customer_id == a.customer_id)
            .or_else(|| {
                self.by_customer
                    .get(a.customer_id.as_str())?
                    .iter()
                    .copied()
                    .find(|&i| {
                        let t = self.list[i];
                        a.ts >= t.from_ts && a.ts <= t.to_ts + WITHIN_MS
                    })
            })
    }
}

/// Scores every detector named in `names`. `truth` holds the anomalies and the benign
/// look-alikes ([`Truth::is_lookalike`]); a look-alike never counts as an anomaly.
pub fn score(names: &[&str], truth: &[Truth], alerts: &[Alert]) -> Vec<DetectorScore> {
    let lookalikes = Episodes::new(truth.iter().filter(|t| t.is_lookalike()).collect());
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for t in &lookalikes.list {
        *kinds
            .entry(t.lookalike.clone().unwrap_or_default())
            .or_default() += 1;
    }
    names
        .iter()
        .map(|&name| {
            let anomalies = Episodes::new(
                truth
                    .iter()
                    .filter(|t| !t.is_lookalike() && t.detector == name)
                    .collect(),
            );
            let mine: Vec<&Alert> = alerts.iter().filter(|a| a.detector == name).collect();
            let mut found = HashSet::new();
            let mut true_alerts = 0;
            let mut false_alerts = Vec::new();
            let mut other_false = Vec::new();
            let mut hits: BTreeMap<String, LookalikeHits> = kinds
                .iter()
                .map(|(k, &n)| {
                    let h = LookalikeHits {
                        episodes: n,
                        ..Default::default()
                    };
                    (k.clone(), h)
                })
                .collect();
            let mut flagged = HashSet::new();
            for a in &mine {
                if let Some(i) = anomalies.find(a) {
                    true_alerts += 1;
                    found.insert(i);
                    continue;
                }
                let at = (a.customer_id.clone(), a.record_id.clone());
                match lookalikes.find(a) {
                    Some(i) => {
                        let kind = lookalikes.list[i].lookalike.clone().unwrap_or_default();
                        let h = hits.entry(kind).or_default();
                        h.alerts += 1;
                        if flagged.insert(i) {
                            h.flagged += 1;
                        }
                    }
                    None => other_false.push(at.clone()),
                }
                false_alerts.push(at);
            }
            DetectorScore {
                detector: name.to_string(),
                injected: anomalies.list.len(),
                found: found.len(),
                alerts: mine.len(),
                true_alerts,
                missed: anomalies
                    .list
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !found.contains(i))
                    .map(|(_, t)| t.customer_id.clone())
                    .collect(),
                false_alerts,
                lookalikes: hits,
                other_false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(detector: &str, customer: &str, record: &str) -> Alert {
        Alert {
            detector: detector.into(),
            customer_id: customer.into(),
            record_id: record.into(),
            ts: 500_000,
            reason: String::new(),
            sent_ms: 0,
            window_start: None,
        }
    }

    #[test]
    fn precision_and_recall() {
        let truth = vec![
            Truth {
                detector: "v".into(),
                customer_id: "a".into(),
                record_ids: vec!["r1".into(), "r2".into()],
                from_ts: 0,
                to_ts: 0,
                lookalike: None,
            },
            Truth {
                detector: "v".into(),
                customer_id: "b".into(),
                record_ids: vec!["r3".into()],
                from_ts: 0,
                to_ts: 0,
                lookalike: None,
            },
        ];
        let alerts = vec![
            alert("v", "a", "r2"),
            alert("v", "a", "r1"),
            alert("v", "c", "r9"),
            alert("w", "b", "r3"),
        ];
        let s = &score(&["v"], &truth, &alerts)[0];
        assert_eq!((s.injected, s.found, s.alerts, s.true_alerts), (2, 1, 3, 2));
        assert_eq!(s.missed, vec!["b".to_string()]);
        assert!((s.precision() - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.recall() - 0.5).abs() < 1e-9);
    }

    fn episode(
        detector: &str,
        lookalike: Option<&str>,
        customer: &str,
        records: &[&str],
        ts: (i64, i64),
    ) -> Truth {
        Truth {
            detector: detector.into(),
            customer_id: customer.into(),
            record_ids: records.iter().map(|r| r.to_string()).collect(),
            from_ts: ts.0,
            to_ts: ts.1,
            lookalike: lookalike.map(str::to_string),
        }
    }

    fn at(mut a: Alert, ts: i64) -> Alert {
        a.ts = ts;
        a
    }

    #[test]
    fn false_alerts_are_classified_by_lookalike_kind() {
        let truth = vec![
            episode("n", None, "a", &["r1"], (100, 100)),
            episode("benign", Some("travel"), "b", &["r5", "r6"], (200, 300)),
            episode("benign", Some("phone-upgrade"), "c", &["r7"], (400, 400)),
            episode("benign", Some("large-purchase"), "d", &["r8"], (500, 500)),
            // A look-alike is never an anomaly, whatever its detector says.
            episode("n", Some("travel"), "f", &["r9"], (600, 600)),
            // Another detector's anomaly.
            episode("m", None, "g", &["r10"], (700, 700)),
        ];
        let alerts = vec![
            at(alert("n", "a", "r1"), 100),
            // On the trip's records, and on another record of the traveller while it lasts.
            at(alert("n", "b", "r6"), 300),
            at(alert("n", "b", "r99"), 250),
            at(alert("n", "c", "r7"), 400),
            at(alert("n", "f", "r9"), 600),
            // Nothing: another customer, the traveller long after the trip, a record id of
            // a look-alike but another customer, another detector's anomaly.
            at(alert("n", "e", "r11"), 300),
            at(alert("n", "b", "r12"), 300 + WITHIN_MS + 1),
            at(alert("n", "x", "r5"), 1_000_000),
            at(alert("n", "g", "r10"), 700),
            // Another detector's alert on a look-alike is not this detector's.
            at(alert("m", "d", "r8"), 500),
        ];
        let s = &score(&["n"], &truth, &alerts)[0];
        assert_eq!((s.injected, s.found, s.alerts, s.true_alerts), (1, 1, 9, 1));
        assert_eq!(s.false_alerts.len(), 8);
        assert_eq!(s.false_on_lookalikes(), 4);
        let hits = |episodes, flagged, alerts| LookalikeHits {
            episodes,
            flagged,
            alerts,
        };
        assert_eq!(s.lookalikes["travel"], hits(2, 2, 3));
        assert_eq!(s.lookalikes["phone-upgrade"], hits(1, 1, 1));
        assert_eq!(s.lookalikes["large-purchase"], hits(1, 0, 0));
        let other: Vec<&str> = s.other_false.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(other, ["r11", "r12", "r5", "r10"]);
        assert!((s.precision() - 1.0 / 9.0).abs() < 1e-9);
        assert!((s.recall() - 1.0).abs() < 1e-9);
        let m = &score(&["m"], &truth, &alerts)[0];
        assert_eq!((m.injected, m.found, m.false_on_lookalikes()), (1, 0, 1));
        assert_eq!(m.lookalikes["large-purchase"], hits(1, 1, 1));
        assert!(m.other_false.is_empty());
    }
}
