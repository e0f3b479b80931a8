//! KStream-KStream inner, left and outer joins, input by input: the Kafka documentation's
//! join table (all records within one window), then lone records, out-of-order partners
//! and late records around the window and its grace period.
//!
//! Left and outer joins emit a record without a partner only once no partner can arrive
//! any more (Kafka 3.1+ semantics, without spurious `null` results). Here that is when
//! stream time passes `ts + before + after + grace`.

use kstreams::dsl::{JoinWindows, StreamJoined};
use kstreams::serde::{Nullable, StringSerde};
use kstreams::{Consumed, KStream, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Inner,
    Left,
    Outer,
}

fn show(l: Option<&String>, r: Option<&String>) -> String {
    format!(
        "{} - {}",
        l.map_or("null", |s| s.as_str()),
        r.map_or("null", |s| s.as_str())
    )
}

fn driver(kind: Kind, windows: JoinWindows) -> TestDriver {
    let builder = StreamsBuilder::new();
    let side = |topic: &str| -> KStream<String, String> {
        builder
            .stream(topic, Consumed::with(StringSerde, Nullable(StringSerde)))
            .flat_map_values(|v| v)
    };
    let (left, right) = (side("left"), side("right"));
    let joined = || StreamJoined::with(StringSerde, StringSerde, StringSerde);
    let out = match kind {
        Kind::Inner => left.join_stream(&right, |l, r| show(Some(l), Some(r)), windows, joined()),
        Kind::Left => left.left_join_stream(&right, |l, r| show(Some(l), r), windows, joined()),
        Kind::Outer => left.outer_join_stream(&right, show, windows, joined()),
    };
    out.to("out", Produced::with(StringSerde, StringSerde));
    TestDriver::builder(builder.build().unwrap())
        .default_partitions(2)
        .build()
        .unwrap()
}

/// One input: (timestamp, "L" or "R", value or None for a null value).
type Input = (i64, &'static str, Option<&'static str>);

/// Pipes the inputs one by one; returns what each produced, as (value, timestamp).
fn run(d: &TestDriver, inputs: &[Input]) -> Vec<Vec<(String, i64)>> {
    let l = d.input_topic("left", StringSerde, Nullable(StringSerde));
    let r = d.input_topic("right", StringSerde, Nullable(StringSerde));
    let out = d.output_topic("out", StringSerde, StringSerde);
    inputs
        .iter()
        .map(|(ts, side, v)| {
            let topic = if *side == "L" { &l } else { &r };
            topic
                .pipe_input_at("k".into(), v.map(str::to_string), *ts)
                .unwrap();
            out.read_records()
                .into_iter()
                .map(|r| (r.value, r.timestamp))
                .collect()
        })
        .collect()
}

fn rows(expected: &[&[(&str, i64)]]) -> Vec<Vec<(String, i64)>> {
    expected
        .iter()
        .map(|row| row.iter().map(|(v, t)| (v.to_string(), *t)).collect())
        .collect()
}

/// The documentation's input sequence; the window (100 ms) spans all of it.
const DOCS: [Input; 15] = [
    (1, "L", None),
    (2, "R", None),
    (3, "L", Some("A")),
    (4, "R", Some("a")),
    (5, "L", Some("B")),
    (6, "R", Some("b")),
    (7, "L", None),
    (8, "R", None),
    (9, "L", Some("C")),
    (10, "R", Some("c")),
    (11, "R", None),
    (12, "L", None),
    (13, "R", None),
    (14, "R", Some("d")),
    (15, "L", Some("D")),
];

fn docs_rows() -> Vec<Vec<(String, i64)>> {
    rows(&[
        &[],
        &[],
        &[],
        &[("A - a", 4)],
        &[("B - a", 5)],
        &[("A - b", 6), ("B - b", 6)],
        &[],
        &[],
        &[("C - a", 9), ("C - b", 9)],
        &[("A - c", 10), ("B - c", 10), ("C - c", 10)],
        &[],
        &[],
        &[],
        &[("A - d", 14), ("B - d", 14), ("C - d", 14)],
        &[("D - a", 15), ("D - b", 15), ("D - c", 15), ("D - d", 15)],
    ])
}

#[test]
fn documentation_table_is_the_same_for_every_kind_within_the_window() {
    // Every record found a partner within the window, so left and outer joins have
    // nothing to add; in particular no `A - null` for A, whose partner came later.
    for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
        let d = driver(
            kind,
            JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(100)),
        );
        // Then one record far later: everything parked has been joined, so nothing is
        // emitted alone.
        let mut inputs = DOCS.to_vec();
        inputs.push((1000, "L", Some("Z")));
        let mut expected = docs_rows();
        expected.push(Vec::new());
        assert_eq!(run(&d, &inputs), expected, "{kind:?}");
    }
}

/// Window 10 ms each way, grace 5 ms: a lone record is final 25 ms after its time.
fn windows() -> JoinWindows {
    JoinWindows::of_time_difference_and_grace(Duration::from_millis(10), Duration::from_millis(5))
}

const AROUND_GRACE: [Input; 8] = [
    (0, "L", Some("A")),   // no partner yet: waits
    (30, "R", Some("a")),  // 30 apart: no join; stream time 30 > 0 + 25: A is final
    (40, "L", Some("B")),  // joins a (10 apart)
    (28, "R", Some("b")),  // out of order, on time (28 + 10 + 5 >= 40); no left in [18, 38]
    (26, "L", Some("C")),  // out of order, on time (26 + 10 + 5 >= 40): joins b and a
    (24, "L", Some("D")), // late (24 + 10 + 5 < 40): joins b and a, which are kept, but is not kept
    (60, "L", Some("E")), // no partner: waits
    (100, "L", Some("F")), // stream time 100: E (60 + 25 < 100) is final
];

#[test]
fn inner_join_around_the_grace_period() {
    let d = driver(Kind::Inner, windows());
    let got = run(&d, &AROUND_GRACE);
    assert_eq!(
        got,
        rows(&[
            &[],
            &[],
            &[("B - a", 40)],
            &[],
            &[("C - b", 28), ("C - a", 30)],
            &[("D - b", 28), ("D - a", 30)],
            &[],
            &[],
        ])
    );
    // As in Kafka Streams, a late record is processed against what the other side kept; only
    // storing it is skipped, so nothing counts as dropped.
    assert_eq!(d.metrics().dropped, 0, "D was late but joined");
}

#[test]
fn a_record_past_the_retention_joins_but_is_not_kept() {
    let d = driver(Kind::Inner, windows());
    let mut inputs = AROUND_GRACE[..6].to_vec();
    // Stream time 40, retention 25: G (10 + 25 < 40) finds no partner in [0, 20] and is not
    // stored; y, itself late, reaches [2, 22] and so would join G had G been kept.
    inputs.push((10, "L", Some("G")));
    inputs.push((12, "R", Some("y")));
    // Within the retention D (24) is kept: z at 25 reaches [15, 35] and joins it and C (the
    // result takes the later timestamp).
    inputs.push((25, "R", Some("z")));
    let got = run(&d, &inputs);
    assert_eq!(
        got[6..],
        rows(&[&[], &[], &[("D - z", 25), ("C - z", 26)]])[..]
    );
}

#[test]
fn left_join_emits_lone_records_once_final() {
    let d = driver(Kind::Left, windows());
    let got = run(&d, &AROUND_GRACE);
    assert_eq!(
        got,
        rows(&[
            &[],
            &[("A - null", 0)],
            &[("B - a", 40)],
            &[],
            &[("C - b", 28), ("C - a", 30)],
            &[("D - b", 28), ("D - a", 30)],
            &[],
            &[("E - null", 60)],
        ])
    );
    // As in Kafka Streams, a late record is processed against what the other side kept; only
    // storing it is skipped, so nothing counts as dropped.
    assert_eq!(d.metrics().dropped, 0, "D was late but joined");
}

#[test]
fn outer_join_emits_lone_records_of_both_sides_once_final() {
    let d = driver(Kind::Outer, windows());
    let mut inputs = AROUND_GRACE.to_vec();
    // A lone right record (15 after E), final after 100; F moves to 110 to pass it.
    inputs.insert(7, (75, "R", Some("x")));
    inputs[8] = (110, "L", Some("F"));
    let got = run(&d, &inputs);
    assert_eq!(
        got,
        rows(&[
            &[],
            &[("A - null", 0)],
            &[("B - a", 40)],
            &[],
            &[("C - b", 28), ("C - a", 30)],
            &[("D - b", 28), ("D - a", 30)],
            &[],
            &[],
            &[("E - null", 60), ("null - x", 75)],
        ])
    );
}

#[test]
fn a_late_partner_never_follows_a_null_result() {
    // A at 0 is final at stream time > 25. Its latest possible partner (at 10) is on time
    // until stream time 25 (10 + 10 + 5): it joins, and A is never emitted alone.
    let d = driver(Kind::Left, windows());
    let got = run(
        &d,
        &[
            (0, "L", Some("A")),
            (25, "R", Some("late-ish")), // 25 apart: no join; stream time 25, A not final
            (10, "R", Some("p")),        // on time: 10 + 10 + 5 >= 25; joins A
            (26, "R", Some("q")),        // stream time 26: A was joined, nothing lone
        ],
    );
    assert_eq!(got, rows(&[&[], &[], &[("A - p", 10)], &[]]));
}
