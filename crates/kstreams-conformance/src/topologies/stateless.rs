//! Stateless topologies: filter and map, branch and merge, the global-table join.

use super::{nullable_stream, num, present, string_stream, Names};
use kstreams::serde::StringSerde;
use kstreams::{Consumed, Materialized, Produced, StreamsBuilder};

/// 1: the talk's first example.
pub(super) fn filter_upper(b: &StreamsBuilder, n: &Names<'_>) {
    string_stream(b, n.input("in-text"))
        .filter(|_, v| v.contains('a'))
        .map_values(|v| v.to_uppercase())
        .to(n.output, Produced::with(StringSerde, StringSerde));
}

/// 9: three branches by sign and parity, tagged, merged again.
pub(super) fn branch_merge(b: &StreamsBuilder, n: &Names<'_>) {
    let nums = present(&nullable_stream(b, n.input("in-nums")));
    let branches = nums
        .split_named("branch-")
        .branch_as("neg", |_, v| num(v) < 0)
        .branch_as("even", |_, v| num(v) % 2 == 0)
        .default_branch_as("odd");
    let tagged: Vec<_> = branches
        .into_iter()
        .map(|(name, s)| {
            let tag = name.trim_start_matches("branch-").to_string();
            s.map_values(move |v| format!("{tag}:{v}"))
        })
        .collect();
    let mut merged = tagged[0].clone();
    for s in &tagged[1..] {
        merged = merged.merge(s);
    }
    merged.to(n.output, Produced::with(StringSerde, StringSerde));
}

/// 26: each left record looks up `g<i % 10>` in a global table.
pub(super) fn global_join(b: &StreamsBuilder, n: &Names<'_>) {
    let global = b.global_table(
        n.input("in-global"),
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("global-join-store"),
    );
    string_stream(b, n.input("in-left"))
        .join_global(
            &global,
            |_, v: &String| format!("g{}", num(v.get(1..).unwrap_or_default()) % 10),
            |l, g| format!("{l}^{g}"),
        )
        .to(n.output, Produced::with(StringSerde, StringSerde));
}
