//! Timestamps at the end of time through every windowed operator. A window, join or
//! session bound computed with plain `+` wraps at `i64::MAX` (a panic in debug builds; in
//! release a negative bound, and `window_starts` looping while it grows a Vec until memory
//! runs out). Every bound saturates instead: windows that would end past `i64::MAX` end
//! there, and the operators keep working.

use kstreams::dsl::{
    EmitStrategy, JoinWindows, SessionWindows, SlidingWindows, StreamJoined, Suppressed,
    TimeWindows, Windowed, WindowedSerde,
};
use kstreams::processor::{Processor, ProcessorContext, PunctuationType, PunctuatorId, Record};
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::collections::BTreeMap;
use std::time::Duration;

const MAX: i64 = i64::MAX;

/// The timestamps piped to every operator: an ordinary one, then the end of time.
const TIMES: [i64; 4] = [1_000, MAX - 5, MAX - 1, MAX];

type Counts = BTreeMap<(i64, i64), i64>;

fn counts(driver: &TestDriver, store: &str) -> Counts {
    driver
        .key_value_store::<Windowed<String>, i64>(store)
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .map(|(w, n)| ((w.window.start, w.window.end), n))
        .collect()
}

/// One window of the model: start, end (uncapped), count.
type ModelWindow = (i64, i128, i64);

/// The windows `windows` gives for `times`, computed in i128 so nothing can wrap.
fn time_window_model(windows: TimeWindows, times: &[i64]) -> Vec<ModelWindow> {
    let (size, advance) = (windows.size_ms() as i128, windows.advance_ms() as i128);
    let mut out = BTreeMap::<(i64, i128), i64>::new();
    for &t in times {
        let t = t as i128;
        let mut start = ((t - size + advance).max(0) / advance) * advance;
        while start <= t {
            *out.entry((start as i64, start + size)).or_default() += 1;
            start += advance;
        }
    }
    out.into_iter().map(|((s, e), n)| (s, e, n)).collect()
}

fn capped(w: &[ModelWindow]) -> Counts {
    w.iter()
        .map(|&(s, e, n)| ((s, e.min(MAX as i128) as i64), n))
        .collect()
}

fn time_windows(windows: TimeWindows) {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by(windows);
    grouped
        .count(Materialized::named("counts"))
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .flat_map_values(|v| v)
        .to(
            "suppressed",
            Produced::with(WindowedSerde::new(StringSerde, windows.size_ms()), I64Serde),
        );
    grouped
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count(Materialized::named("final-counts"))
        .to_stream()
        .flat_map_values(|v| v)
        .to(
            "final",
            Produced::with(WindowedSerde::new(StringSerde, windows.size_ms()), I64Serde),
        );
    let driver = TestDriver::builder(builder.build().unwrap())
        .build()
        .unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    for t in TIMES {
        input.pipe_input_at("k".to_string(), 1, t).unwrap();
    }
    let model = time_window_model(windows, &TIMES);
    // The store keeps the windows within retention (a day, or size plus grace if longer)
    // of stream time, which is now i64::MAX.
    let retention = (windows.size_ms() as i128 + windows.grace_ms() as i128).max(86_400_000);
    let retained: Vec<ModelWindow> = model
        .iter()
        .copied()
        .filter(|&(s, _, _)| s as i128 >= MAX as i128 - retention)
        .collect();
    assert_eq!(counts(&driver, "counts"), capped(&retained));
    // Final exactly once through both paths: the windows whose (uncapped) end plus grace
    // stream time has reached; none whose end was capped.
    let closed: Vec<ModelWindow> = model
        .iter()
        .copied()
        .filter(|&(_, e, _)| e + windows.grace_ms() as i128 <= MAX as i128)
        .collect();
    for topic in ["suppressed", "final"] {
        let mut out: Vec<((i64, i64), i64)> = driver
            .output_topic(
                topic,
                WindowedSerde::new(StringSerde, windows.size_ms()),
                I64Serde,
            )
            .read_records()
            .into_iter()
            .map(|r| {
                let w = r.key.unwrap().window;
                ((w.start, w.end), r.value)
            })
            .collect();
        out.sort();
        let expected: Vec<_> = capped(&closed).into_iter().collect();
        assert_eq!(out, expected, "{topic}");
    }
}

#[test]
fn tumbling_windows_at_the_end_of_time() {
    time_windows(TimeWindows::of_size_and_grace(
        Duration::from_millis(10),
        Duration::from_millis(5),
    ));
}

#[test]
fn hopping_windows_at_the_end_of_time() {
    time_windows(
        TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(5))
            .advance_by(Duration::from_millis(3)),
    );
}

#[test]
fn windows_of_unbounded_size_and_grace() {
    time_windows(TimeWindows::of_size_and_grace(Duration::MAX, Duration::MAX));
}

#[test]
fn sessions_at_the_end_of_time() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(
            Duration::from_millis(10),
            Duration::MAX,
        ))
        .count(Materialized::named("sessions"));
    let driver = TestDriver::builder(builder.build().unwrap())
        .build()
        .unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    for t in TIMES {
        input.pipe_input_at("k".to_string(), 1, t).unwrap();
    }
    let expected = Counts::from([((1_000, 1_000), 1), ((MAX - 5, MAX), 3)]);
    assert_eq!(counts(&driver, "sessions"), expected);
}

#[test]
fn sliding_windows_at_the_end_of_time() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde))
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
            Duration::from_millis(10),
            Duration::MAX,
        ))
        .count(Materialized::named("sliding"));
    let driver = TestDriver::builder(builder.build().unwrap())
        .build()
        .unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    for t in TIMES {
        input.pipe_input_at("k".to_string(), 1, t).unwrap();
    }
    let got = counts(&driver, "sliding");
    // The windows ending at each record, and those starting just after one, with ends
    // capped at i64::MAX; none starts after i64::MAX, the last record.
    let expected = Counts::from([
        ((990, 1_000), 1),
        ((1_001, 1_011), 0),
        ((MAX - 15, MAX - 5), 1),
        ((MAX - 11, MAX - 1), 2),
        ((MAX - 10, MAX), 3),
        ((MAX - 4, MAX), 2),
        ((MAX, MAX), 1),
    ]);
    let expected: Counts = expected.into_iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(got, expected);
    assert!(got.keys().all(|(s, e)| s <= e), "{got:?}");
}

#[test]
fn stream_stream_joins_at_the_end_of_time() {
    let builder = StreamsBuilder::new();
    let side = |topic: &str| builder.stream(topic, Consumed::with(StringSerde, StringSerde));
    let (left, right) = (side("left"), side("right"));
    left.join_stream(
        &right,
        |l, r| format!("{l}+{r}"),
        JoinWindows::of_time_difference_and_grace(Duration::from_millis(10), Duration::MAX),
        StreamJoined::with(StringSerde, StringSerde, StringSerde),
    )
    .to("joined", Produced::with(StringSerde, StringSerde));
    left.outer_join_stream(
        &right,
        |l, r| format!("{}+{}", l.map_or("null", |s| s), r.map_or("null", |s| s)),
        JoinWindows::of_time_difference_with_no_grace(Duration::MAX),
        StreamJoined::with(StringSerde, StringSerde, StringSerde),
    )
    .to("outer", Produced::with(StringSerde, StringSerde));
    let driver = TestDriver::builder(builder.build().unwrap())
        .build()
        .unwrap();
    let l = driver.input_topic("left", StringSerde, StringSerde);
    let r = driver.input_topic("right", StringSerde, StringSerde);
    l.pipe_input_at("k".to_string(), "a".to_string(), 1_000)
        .unwrap();
    l.pipe_input_at("k".to_string(), "b".to_string(), MAX - 3)
        .unwrap();
    r.pipe_input_at("k".to_string(), "c".to_string(), MAX)
        .unwrap();
    let joined: Vec<_> = driver
        .output_topic("joined", StringSerde, StringSerde)
        .read_records()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(joined, [("b+c".to_string(), MAX)]);
    // With an unbounded window every pair joins, and no record is ever final alone.
    let mut outer: Vec<_> = driver
        .output_topic("outer", StringSerde, StringSerde)
        .read_records()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    outer.sort();
    assert_eq!(outer, [("a+c".to_string(), MAX), ("b+c".to_string(), MAX)]);
}

/// Counts its stream-time punctuations.
struct EveryTenMs;

impl Processor<String, i64, String, i64> for EveryTenMs {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> kstreams::Result<()> {
        ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime);
        Ok(())
    }
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, String, i64>,
        _: Record<String, i64>,
    ) -> kstreams::Result<()> {
        Ok(())
    }
    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        _: PunctuatorId,
        timestamp: i64,
    ) -> kstreams::Result<()> {
        ctx.forward(Record::new(Some("tick".to_string()), timestamp, timestamp))
    }
}

#[test]
fn stream_time_punctuation_at_the_end_of_time() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .process(|| EveryTenMs, &[])
        .to("ticks", Produced::with(StringSerde, I64Serde));
    let driver = TestDriver::builder(builder.build().unwrap())
        .build()
        .unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    for t in TIMES {
        input.pipe_input_at("k".to_string(), 1, t).unwrap();
    }
    let ticks = driver
        .output_topic("ticks", StringSerde, I64Serde)
        .read_values();
    // At the first record; at the jump to the end of time, after which the next tick on
    // the grid would be past i64::MAX and is capped there; and at i64::MAX.
    assert_eq!(ticks, [1_000, MAX - 5, MAX]);
}
