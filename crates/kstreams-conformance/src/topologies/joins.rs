//! Every join: stream-stream (inner, left, outer), stream-table (inner, left), table-table
//! (inner, left, outer) and foreign-key (inner, left).

use super::{string_changes, string_stream, Names};
use kstreams::dsl::{JoinWindows, StreamJoined};
use kstreams::serde::StringSerde;
use kstreams::{Consumed, KTable, Materialized, Produced, StreamsBuilder};
use std::time::Duration;

fn or_null(v: Option<&String>) -> &str {
    v.map_or("null", String::as_str)
}

fn table(b: &StreamsBuilder, topic: String) -> KTable<String, String> {
    b.table(
        topic,
        Consumed::with(StringSerde, StringSerde),
        Materialized::default(),
    )
}

/// 16–18: left and right streams joined within 5 s, with 2 s of grace.
pub(super) fn stream_stream(b: &StreamsBuilder, n: &Names<'_>, name: &str) {
    let left = string_stream(b, n.input("in-left"));
    let right = string_stream(b, n.input("in-right"));
    let windows =
        JoinWindows::of_time_difference_and_grace(Duration::from_secs(5), Duration::from_secs(2));
    let joined = || StreamJoined::with(StringSerde, StringSerde, StringSerde);
    let out = match name {
        "ss-inner-join" => left.join_stream(&right, |l, r| format!("{l}+{r}"), windows, joined()),
        "ss-left-join" => left.left_join_stream(
            &right,
            |l, r| format!("{l}+{}", or_null(r)),
            windows,
            joined(),
        ),
        _ => left.outer_join_stream(
            &right,
            |l, r| format!("{}+{}", or_null(l), or_null(r)),
            windows,
            joined(),
        ),
    };
    out.to(n.output, Produced::with(StringSerde, StringSerde));
}

/// 19–20: left stream records enriched from a table.
pub(super) fn stream_table(b: &StreamsBuilder, n: &Names<'_>, left_join: bool) {
    let stream = string_stream(b, n.input("in-left"));
    let rows = table(b, n.input("in-table"));
    let out = if left_join {
        stream.left_join(&rows, |l, t| format!("{l}*{}", or_null(t)))
    } else {
        stream.join(&rows, |l, t| format!("{l}*{t}"))
    };
    out.to(n.output, Produced::with(StringSerde, StringSerde));
}

/// 21–23: two tables joined on their key.
pub(super) fn table_table(b: &StreamsBuilder, n: &Names<'_>, name: &str) {
    let a = table(b, n.input("in-table"));
    let b2 = table(b, n.input("in-table2"));
    let joined = match name {
        "tt-inner-join" => a.join(&b2, |x, y| format!("{x}&{y}")),
        "tt-left-join" => a.left_join(&b2, |x, y| format!("{x}&{}", or_null(y))),
        _ => a.outer_join(&b2, |x, y| format!("{}&{}", or_null(x), or_null(y))),
    };
    joined.to_stream().to(n.output, string_changes());
}

/// 24–25: orders joined with their customer through the value's foreign key.
pub(super) fn foreign_key(b: &StreamsBuilder, n: &Names<'_>, left_join: bool) {
    let orders = table(b, n.input("in-fk-left"));
    let customers = table(b, n.input("in-fk-right"));
    let fk = |v: &String| v.split('|').next().unwrap_or_default().to_string();
    let result = Materialized::with(StringSerde, StringSerde);
    let joined = if left_join {
        orders.left_join_foreign_key(&customers, fk, |o, c| format!("{o}@{}", or_null(c)), result)
    } else {
        orders.join_foreign_key(&customers, fk, |o, c| format!("{o}@{c}"), result)
    };
    joined.to_stream().to(n.output, string_changes());
}
