//! Comparing what Kafka Streams wrote with what kstreams wrote.

use crate::broker::Record;
use crate::spec::Mode;
use std::collections::{BTreeMap, HashMap};

/// Shows bytes as text where they are text, else as hex (windowed keys, longs).
pub fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
            _ => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("0x{hex}")
            }
        },
    }
}

fn show_record(r: &Record) -> String {
    format!(
        "({} -> {} @{})",
        show(r.key.as_deref()),
        show(r.value.as_deref()),
        r.timestamp
    )
}

/// Compares two outputs (records per partition) in `mode`; `Err` describes the first
/// difference.
pub fn outputs(mode: Mode, java: &[Vec<Record>], rust: &[Vec<Record>]) -> Result<usize, String> {
    let all = |o: &[Vec<Record>]| o.iter().flatten().cloned().collect::<Vec<_>>();
    let (j, r) = (all(java), all(rust));
    match mode {
        Mode::Ordered => ordered(&j, &r),
        Mode::Multiset => multiset(&j, &r),
        Mode::Final => finals(&j, &r),
    }?;
    Ok(j.len())
}

fn multiset(java: &[Record], rust: &[Record]) -> Result<(), String> {
    let count = |rs: &[Record]| {
        let mut m: BTreeMap<Record, i64> = BTreeMap::new();
        for r in rs {
            *m.entry(r.clone()).or_default() += 1;
        }
        m
    };
    let (j, r) = (count(java), count(rust));
    if j == r {
        return Ok(());
    }
    let only_java: Vec<String> = j
        .iter()
        .filter(|(k, n)| r.get(*k) != Some(n))
        .take(3)
        .map(|(k, n)| format!("{}×{n}", show_record(k)))
        .collect();
    let only_rust: Vec<String> = r
        .iter()
        .filter(|(k, n)| j.get(*k) != Some(n))
        .take(3)
        .map(|(k, n)| format!("{}×{n}", show_record(k)))
        .collect();
    Err(format!(
        "{} records against {}; Kafka Streams only: {}; kstreams only: {}",
        java.len(),
        rust.len(),
        only_java.join(", "),
        only_rust.join(", ")
    ))
}

/// A key's records in order: value and timestamp.
type History = Vec<(Option<Vec<u8>>, i64)>;

fn ordered(java: &[Record], rust: &[Record]) -> Result<(), String> {
    let by_key = |rs: &[Record]| {
        let mut m: BTreeMap<Vec<u8>, History> = BTreeMap::new();
        for r in rs {
            if let Some(k) = &r.key {
                m.entry(k.clone())
                    .or_default()
                    .push((r.value.clone(), r.timestamp));
            }
        }
        m
    };
    let (j, r) = (by_key(java), by_key(rust));
    for key in j.keys().chain(r.keys()) {
        let (a, b) = (
            j.get(key).cloned().unwrap_or_default(),
            r.get(key).cloned().unwrap_or_default(),
        );
        if a != b {
            let at = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            let fmt = |v: Option<&(Option<Vec<u8>>, i64)>| {
                v.map_or("(none)".to_string(), |(v, t)| {
                    format!("{} @{t}", show(v.as_deref()))
                })
            };
            return Err(format!(
                "key {}: {} records against {}; record {at}: Kafka Streams {} / kstreams {}",
                show(Some(key)),
                a.len(),
                b.len(),
                fmt(a.get(at)),
                fmt(b.get(at))
            ));
        }
    }
    let nulls = |rs: &[Record]| {
        rs.iter()
            .filter(|r| r.key.is_none())
            .cloned()
            .collect::<Vec<_>>()
    };
    multiset(&nulls(java), &nulls(rust)).map_err(|e| format!("null-keyed records: {e}"))
}

/// The last value and timestamp per key; tombstones delete.
pub fn fold(records: &[Record]) -> HashMap<Option<Vec<u8>>, (Vec<u8>, i64)> {
    let mut m = HashMap::new();
    for r in records {
        match &r.value {
            Some(v) => {
                m.insert(r.key.clone(), (v.clone(), r.timestamp));
            }
            None => {
                m.remove(&r.key);
            }
        }
    }
    m
}

fn finals(java: &[Record], rust: &[Record]) -> Result<(), String> {
    let (j, r) = (fold(java), fold(rust));
    if j == r {
        return Ok(());
    }
    let mut diffs: Vec<String> = j
        .keys()
        .chain(r.keys())
        .filter(|k| j.get(*k) != r.get(*k))
        .map(|k| {
            let side = |m: &HashMap<Option<Vec<u8>>, (Vec<u8>, i64)>| {
                m.get(k).map_or("(deleted)".to_string(), |(v, t)| {
                    format!("{} @{t}", show(Some(v)))
                })
            };
            format!(
                "{}: Kafka Streams {} / kstreams {}",
                show(k.as_deref()),
                side(&j),
                side(&r)
            )
        })
        .collect();
    diffs.sort();
    diffs.dedup();
    Err(format!(
        "{} of {} final keys differ; {}",
        diffs.len(),
        j.len().max(r.len()),
        diffs.into_iter().take(3).collect::<Vec<_>>().join("; ")
    ))
}

/// Compares two changelogs by their final contents: key bytes to value bytes, and record
/// timestamps unless `with_time` is false.
pub fn changelogs(
    java: &[Vec<Record>],
    rust: &[Vec<Record>],
    with_time: bool,
) -> Result<usize, String> {
    let all = |o: &[Vec<Record>]| {
        o.iter()
            .flatten()
            .map(|r| Record {
                timestamp: if with_time { r.timestamp } else { 0 },
                ..r.clone()
            })
            .collect::<Vec<_>>()
    };
    let (j, r) = (all(java), all(rust));
    finals(&j, &r)?;
    Ok(fold(&j).len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(k: &str, v: Option<&str>, t: i64) -> Record {
        Record {
            key: Some(k.as_bytes().to_vec()),
            value: v.map(|v| v.as_bytes().to_vec()),
            timestamp: t,
        }
    }

    #[test]
    fn each_mode_tells_what_it_should() {
        let a = vec![vec![
            rec("a", Some("1"), 1),
            rec("b", Some("1"), 2),
            rec("a", Some("2"), 3),
        ]];
        // Another interleaving of the keys: ordered and multiset agree, final too.
        let b = vec![
            vec![rec("b", Some("1"), 2)],
            vec![rec("a", Some("1"), 1), rec("a", Some("2"), 3)],
        ];
        for mode in [Mode::Ordered, Mode::Multiset, Mode::Final] {
            assert!(outputs(mode, &a, &b).is_ok(), "{mode:?}");
        }
        // A key's updates swapped: only the multiset still agrees.
        let c = vec![vec![
            rec("a", Some("2"), 3),
            rec("b", Some("1"), 2),
            rec("a", Some("1"), 1),
        ]];
        assert!(outputs(Mode::Ordered, &a, &c).is_err());
        assert!(outputs(Mode::Multiset, &a, &c).is_ok());
        assert!(outputs(Mode::Final, &a, &c).is_err());
        // A duplicate: final agrees, multiset does not.
        let d = vec![vec![
            rec("a", Some("1"), 1),
            rec("b", Some("1"), 2),
            rec("a", Some("2"), 3),
            rec("a", Some("2"), 3),
        ]];
        assert!(outputs(Mode::Final, &a, &d).is_ok());
        assert!(outputs(Mode::Multiset, &a, &d).is_err());
        // A tombstone deletes in the final view.
        let e = vec![vec![
            rec("a", Some("1"), 1),
            rec("b", Some("1"), 2),
            rec("a", Some("2"), 3),
            rec("b", None, 4),
        ]];
        assert!(outputs(Mode::Final, &a, &e).is_err());
        // A timestamp differs.
        let f = vec![vec![
            rec("a", Some("1"), 1),
            rec("b", Some("1"), 2),
            rec("a", Some("2"), 9),
        ]];
        assert!(outputs(Mode::Final, &a, &f).is_err());
    }
}
