//! The topologies of the suite, as `conformance/README.md` lists them: what each reads, the
//! stores it names, and how its output is compared.

/// How two outputs are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each key's records in the same order (value, timestamp); null-keyed records as a
    /// multiset.
    Ordered,
    /// The same records (key, value, timestamp) with the same multiplicity, in any order.
    Multiset,
    /// The last value and timestamp per key; a null value means deleted.
    Final,
}

impl Mode {
    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Ordered => "ordered",
            Mode::Multiset => "multiset",
            Mode::Final => "final",
        }
    }
}

/// One topology of the suite.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Its name, part of application ids and topic names.
    pub name: &'static str,
    /// How its outputs are compared.
    pub mode: Mode,
    /// The input topics it reads (short names).
    pub inputs: &'static [&'static str],
    /// The stores it names, whose changelogs are compared too.
    pub stores: &'static [&'static str],
}

const fn spec(
    name: &'static str,
    mode: Mode,
    inputs: &'static [&'static str],
    stores: &'static [&'static str],
) -> Spec {
    Spec {
        name,
        mode,
        inputs,
        stores,
    }
}

use Mode::{Final, Multiset, Ordered};

/// Session stores, whose changelog records' timestamps are not compared.
pub const SESSION_STORES: &[&str] = &["session-count-store"];

/// Every topology, in the README's order.
pub const ALL: &[Spec] = &[
    spec("filter-upper", Ordered, &["in-text"], &[]),
    spec("sum-stream", Final, &["in-nums"], &["sum-stream-store"]),
    spec(
        "sum-table",
        Final,
        &["in-nums"],
        &["sum-table-source", "sum-table-store"],
    ),
    spec(
        "metrics-agg",
        Final,
        &["in-metrics"],
        &["metrics-agg-store"],
    ),
    spec("word-count", Final, &["in-text"], &["word-count-store"]),
    spec("map-count", Final, &["in-nums"], &["map-count-store"]),
    spec(
        "flatmap-count",
        Final,
        &["in-text"],
        &["flatmap-count-store"],
    ),
    spec(
        "selectkey-reduce",
        Final,
        &["in-text"],
        &["selectkey-reduce-store"],
    ),
    spec("branch-merge", Ordered, &["in-nums"], &[]),
    spec(
        "stream-count",
        Ordered,
        &["in-nums"],
        &["stream-count-store"],
    ),
    spec(
        "stream-reduce",
        Ordered,
        &["in-nums"],
        &["stream-reduce-store"],
    ),
    spec(
        "stream-aggregate",
        Ordered,
        &["in-nums"],
        &["stream-aggregate-store"],
    ),
    spec("table-count", Final, &["in-nums"], &["table-count-store"]),
    spec("table-reduce", Final, &["in-nums"], &["table-reduce-store"]),
    spec(
        "table-aggregate",
        Final,
        &["in-nums"],
        &["table-aggregate-store"],
    ),
    spec("ss-inner-join", Multiset, &["in-left", "in-right"], &[]),
    spec("ss-left-join", Multiset, &["in-left", "in-right"], &[]),
    spec("ss-outer-join", Multiset, &["in-left", "in-right"], &[]),
    spec("stream-table-join", Multiset, &["in-left", "in-table"], &[]),
    spec(
        "stream-table-left-join",
        Multiset,
        &["in-left", "in-table"],
        &[],
    ),
    spec("tt-inner-join", Final, &["in-table", "in-table2"], &[]),
    spec("tt-left-join", Final, &["in-table", "in-table2"], &[]),
    spec("tt-outer-join", Final, &["in-table", "in-table2"], &[]),
    spec("fk-inner-join", Final, &["in-fk-left", "in-fk-right"], &[]),
    spec("fk-left-join", Final, &["in-fk-left", "in-fk-right"], &[]),
    spec("global-join", Ordered, &["in-left"], &[]),
    spec(
        "tumbling-count",
        Ordered,
        &["in-nums"],
        &["tumbling-count-store"],
    ),
    spec(
        "hopping-count",
        Ordered,
        &["in-nums"],
        &["hopping-count-store"],
    ),
    spec(
        "sliding-count",
        Final,
        &["in-nums"],
        &["sliding-count-store"],
    ),
    spec(
        "session-count",
        Final,
        &["in-nums"],
        &["session-count-store"],
    ),
    spec(
        "suppress-final",
        Multiset,
        &["in-nums"],
        &["suppress-final-store"],
    ),
    spec("emit-final", Multiset, &["in-nums"], &["emit-final-store"]),
    spec(
        "cogroup",
        Final,
        &["in-left", "in-right"],
        &["cogroup-store"],
    ),
];

/// The specs named in `only`, or all of them.
pub fn select(only: &[String]) -> Result<Vec<Spec>, String> {
    if only.is_empty() {
        return Ok(ALL.to_vec());
    }
    only.iter()
        .map(|name| {
            ALL.iter()
                .find(|s| s.name == name)
                .copied()
                .ok_or_else(|| format!("no topology named {name:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_input_exists() {
        let inputs: Vec<&str> = crate::input::generate(1, 1_700_000_000_000)
            .iter()
            .map(|t| t.name)
            .collect();
        let mut names = std::collections::HashSet::new();
        for s in ALL {
            assert!(names.insert(s.name), "{} twice", s.name);
            for i in s.inputs {
                assert!(inputs.contains(i), "{}: no input {i}", s.name);
            }
        }
        assert!(ALL.len() >= 25);
    }
}
