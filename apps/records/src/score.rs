//! Scoring detection against the generator's ground truth.

use crate::model::{Alert, Truth};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How long after an anomaly's last record an alert of the same customer still counts
/// for it: one minute, the velocity window.
const WITHIN_MS: i64 = 60_000;

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
    /// Its alerts that match no injected anomaly: (customer, record).
    pub false_alerts: Vec<(String, String)>,
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
}

/// Scores every detector named in `names`.
pub fn score(names: &[&str], truth: &[Truth], alerts: &[Alert]) -> Vec<DetectorScore> {
    let mut by_kind: BTreeMap<&str, Vec<&Truth>> = BTreeMap::new();
    for t in truth {
        by_kind.entry(t.detector.as_str()).or_default().push(t);
    }
    names
        .iter()
        .map(|&name| {
            let anomalies = by_kind.get(name).cloned().unwrap_or_default();
            let owner: HashMap<&str, usize> = anomalies
                .iter()
                .enumerate()
                .flat_map(|(i, t)| t.record_ids.iter().map(move |r| (r.as_str(), i)))
                .collect();
            let mine: Vec<&Alert> = alerts.iter().filter(|a| a.detector == name).collect();
            let mut found = HashSet::new();
            let mut true_alerts = 0;
            let mut false_alerts = Vec::new();
            for a in &mine {
                // An alert is right when it points at a record of the anomaly, or at another
                // record of the same customer while the anomaly lasts (a velocity window
                // may cross its threshold on a customer's ordinary record amid a burst).
                let hit = owner
                    .get(a.record_id.as_str())
                    .copied()
                    .filter(|&i| anomalies[i].customer_id == a.customer_id)
                    .or_else(|| {
                        anomalies.iter().position(|t| {
                            t.customer_id == a.customer_id
                                && a.ts >= t.from_ts
                                && a.ts <= t.to_ts + WITHIN_MS
                        })
                    });
                match hit {
                    Some(i) => {
                        true_alerts += 1;
                        found.insert(i);
                    }
                    None => false_alerts.push((a.customer_id.clone(), a.record_id.clone())),
                }
            }
            DetectorScore {
                detector: name.to_string(),
                injected: anomalies.len(),
                found: found.len(),
                alerts: mine.len(),
                true_alerts,
                missed: anomalies
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !found.contains(i))
                    .map(|(_, t)| t.customer_id.clone())
                    .collect(),
                false_alerts,
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
            },
            Truth {
                detector: "v".into(),
                customer_id: "b".into(),
                record_ids: vec!["r3".into()],
                from_ts: 0,
                to_ts: 0,
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
}
