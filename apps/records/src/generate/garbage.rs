//! Invalid records: one of every kind ingest rejects, counted by reason.

use super::{Generated, Generator};

impl Generator {
    /// An invalid record of a random kind.
    pub(super) fn garbage(&mut self, wall_ms: i64) -> Generated {
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
}
