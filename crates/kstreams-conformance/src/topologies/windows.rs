//! Windowed counts: tumbling, hopping, sliding and session windows, with grace and late
//! records, emitted on every update, suppressed until the window closes, or emitted once
//! on close.

use super::{nullable_stream, Names};
use kstreams::dsl::{
    EmitStrategy, SessionWindowedSerde, SessionWindows, SlidingWindows, Suppressed, TimeWindows,
    WindowedSerde,
};
use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Grouped, KGroupedStream, Materialized, Produced, StreamsBuilder};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn grouped_nums(b: &StreamsBuilder, n: &Names<'_>) -> KGroupedStream<String, Option<String>> {
    nullable_stream(b, n.input("in-nums"))
        .group_by_key(Grouped::with(StringSerde, Nullable(StringSerde)))
}

/// 27, 28, 31, 32: ten-second windows, tumbling or hopping by five, per key.
pub(super) fn time_windowed(b: &StreamsBuilder, n: &Names<'_>, name: &str) {
    let windows = match name {
        "hopping-count" => {
            TimeWindows::of_size_and_grace(10 * SECOND, 2 * SECOND).advance_by(5 * SECOND)
        }
        _ => TimeWindows::of_size_and_grace(10 * SECOND, 5 * SECOND),
    };
    let mut windowed = grouped_nums(b, n).windowed_by(windows);
    if name == "emit-final" {
        windowed = windowed.emit_strategy(EmitStrategy::OnWindowClose);
    }
    let mut counts = windowed.count(Materialized::named(format!("{name}-store")));
    if name == "suppress-final" {
        counts = counts.suppress(Suppressed::until_window_closes());
    }
    counts.to_stream().to(
        n.output,
        Produced::with(WindowedSerde::new(StringSerde, 10_000), Nullable(I64Serde)),
    );
}

/// 29: sliding windows of 5 s, 2 s of grace.
pub(super) fn sliding(b: &StreamsBuilder, n: &Names<'_>) {
    grouped_nums(b, n)
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
            5 * SECOND,
            2 * SECOND,
        ))
        .count(Materialized::named("sliding-count-store"))
        .to_stream()
        .to(
            n.output,
            Produced::with(WindowedSerde::new(StringSerde, 5_000), Nullable(I64Serde)),
        );
}

/// 30: sessions with a 3 s inactivity gap and 2 s of grace; merged sessions are deleted.
pub(super) fn session(b: &StreamsBuilder, n: &Names<'_>) {
    grouped_nums(b, n)
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(
            3 * SECOND,
            2 * SECOND,
        ))
        .count(Materialized::named("session-count-store"))
        .to_stream()
        .to(
            n.output,
            Produced::with(SessionWindowedSerde::new(StringSerde), Nullable(I64Serde)),
        );
}
