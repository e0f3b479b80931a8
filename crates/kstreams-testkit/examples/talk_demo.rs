//! The reference talk's examples, run on the multi-partition test driver: the text
//! transformer, word count, and the metrics aggregation with add and subtract.
//!
//! Run: `cargo run -p kstreams-testkit --example talk_demo`

use kstreams::serde::{I64Serde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Keep the texts containing an "a", upper-cased.
    let builder = StreamsBuilder::new();
    builder
        .stream("text-input", Consumed::with(StringSerde, StringSerde))
        .filter(|_, text| text.contains('a'))
        .map_values(|text| text.to_uppercase())
        .to("text-output", Produced::with(StringSerde, StringSerde));
    let driver = TestDriver::builder(builder.build()?)
        .partitions("text-input", 4)
        .build()?;
    let input = driver.input_topic("text-input", StringSerde, StringSerde);
    for text in ["kafka", "streams", "in", "rust", "at", "scale"] {
        input.pipe_keyless(text.to_string())?;
    }
    let out = driver.output_topic("text-output", StringSerde, StringSerde);
    println!("text-transformer output: {:?}\n", out.read_values());

    // 2. Word count over 4 partitions, through a repartition topic.
    let builder = StreamsBuilder::new();
    builder
        .stream("lines", Consumed::with(StringSerde, StringSerde))
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .group_by(
            |_, word| word.clone(),
            Grouped::with(StringSerde, StringSerde),
        )
        .count(Materialized::named("counts"))
        .to_stream()
        .to(
            "word-counts",
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    let topology = builder.build()?;
    println!("{}", topology.describe());
    let driver = TestDriver::builder(topology)
        .application_id("wordcount")
        .default_partitions(4)
        .build()?;
    let input = driver.input_topic("lines", StringSerde, StringSerde);
    for line in [
        "all streams lead to Kafka",
        "hello Kafka Streams",
        "join Kafka Summit",
    ] {
        input.pipe_keyless(line.to_string())?;
    }
    let mut counts: Vec<_> = driver
        .key_value_store::<String, i64>("counts")
        .ok_or("no counts store")?
        .all()?;
    counts.sort();
    println!("word counts: {counts:?}");
    println!("topics: {:?}\n", driver.topic_sizes());

    // 3. The talk's metrics aggregation: a KTable keyed by instance, grouped by metric
    //    name, reduced with add and subtract, so a re-report replaces the old value.
    let builder = StreamsBuilder::new();
    builder
        .table(
            "metrics",
            Consumed::with(StringSerde, I64Serde),
            Materialized::named("raw-metrics"),
        )
        .group_by(
            |_instance, n| ("records-processed".to_string(), *n),
            Grouped::with(StringSerde, I64Serde),
        )
        .reduce(
            |a, b| a + b,
            |a, b| a - b,
            Materialized::named("aggregates"),
        )
        .to_stream()
        .to(
            "metrics-agg",
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    let driver = TestDriver::new(builder.build()?)?;
    let input = driver.input_topic("metrics", StringSerde, I64Serde);
    for (instance, n) in [("app-1", 100), ("app-2", 40), ("app-1", 250), ("app-2", 90)] {
        input.pipe_input(instance.to_string(), n)?;
        let agg = driver.output_topic("metrics-agg", StringSerde, Nullable(I64Serde));
        let latest = agg.read_values().pop().flatten().unwrap_or_default();
        println!("{instance} reports {n:>3} -> aggregated records-processed = {latest}");
    }
    Ok(())
}
