//! The behaviours the reference talk shows, checked against Kafka Streams' semantics.

use kstreams::serde::{I64Serde, JsonSerde, Nullable, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use serde::{Deserialize, Serialize};

#[test]
fn text_transformer_keeps_values_with_an_a_and_uppercases_them() {
    let builder = StreamsBuilder::new();
    builder
        .stream("text-input", Consumed::with(StringSerde, StringSerde))
        .filter(|_, v| v.contains('a'))
        .map_values(|v| v.to_uppercase())
        .to("text-output", Produced::with(StringSerde, StringSerde));
    let driver = TestDriver::builder(builder.build().unwrap())
        .application_id("text-transformer")
        .partitions("text-input", 4)
        .partitions("text-output", 4)
        .build()
        .unwrap();
    assert_eq!(driver.task_ids().len(), 4, "one task per input partition");
    let input = driver.input_topic("text-input", StringSerde, StringSerde);
    for (i, text) in ["kafka streams", "hello", "rust", "java", "spark", "scala"]
        .iter()
        .enumerate()
    {
        input
            .pipe_input_at(format!("k{i}"), text.to_string(), i as i64)
            .unwrap();
    }
    let output = driver.output_topic("text-output", StringSerde, StringSerde);
    let records = output.read_records();
    let mut got: Vec<_> = records
        .iter()
        .map(|r| (r.key.clone().unwrap(), r.value.clone(), r.timestamp))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("k0".into(), "KAFKA STREAMS".into(), 0),
            ("k3".into(), "JAVA".into(), 3),
            ("k4".into(), "SPARK".into(), 4),
            ("k5".into(), "SCALA".into(), 5),
        ]
    );
    // Output keeps the key, so murmur2 puts it in the same partition as the input.
    for r in &records {
        let key = r.key.as_ref().unwrap().as_bytes();
        assert_eq!(
            r.partition,
            kstreams::runtime::partitioner::partition_for_key(key, 4)
        );
    }
}

#[test]
fn stream_sums_every_event_while_table_sums_latest_values() {
    // The talk: (alice,1), (charlie,1), (alice,3) sums to 5 as a stream, 4 as a table.
    let builder = StreamsBuilder::new();
    builder
        .stream("stream-input", Consumed::with(StringSerde, I64Serde))
        .group_by(
            |_, _| "total".to_string(),
            Grouped::with(StringSerde, I64Serde),
        )
        .reduce(|a, b| a + b, Materialized::named("stream-sum"));
    builder
        .table(
            "table-input",
            Consumed::with(StringSerde, I64Serde),
            Materialized::named("table"),
        )
        .group_by(
            |_, v| ("total".to_string(), *v),
            Grouped::with(StringSerde, I64Serde),
        )
        .reduce(|a, b| a + b, |a, b| a - b, Materialized::named("table-sum"));
    let driver = TestDriver::builder(builder.build().unwrap())
        .default_partitions(3)
        .build()
        .unwrap();
    for topic in ["stream-input", "table-input"] {
        let input = driver.input_topic(topic, StringSerde, I64Serde);
        input
            .pipe_key_values([
                ("alice".to_string(), 1),
                ("charlie".to_string(), 1),
                ("alice".to_string(), 3),
            ])
            .unwrap();
    }
    let total = |store: &str| {
        driver
            .key_value_store::<String, i64>(store)
            .unwrap()
            .get(&"total".to_string())
            .unwrap()
    };
    assert_eq!(total("stream-sum"), Some(5));
    assert_eq!(total("table-sum"), Some(4));
}

#[test]
fn word_count_over_four_partitions() {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "streams-plaintext-input",
            Consumed::with(StringSerde, StringSerde),
        )
        .flat_map_values(|line| {
            line.to_lowercase()
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .group_by(
            |_, word| word.clone(),
            Grouped::with(StringSerde, StringSerde),
        )
        .count(Materialized::named("counts-store"))
        .to_stream()
        .to(
            "streams-wordcount-output",
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    let topology = builder.build().unwrap();
    let description = topology.describe().to_string();
    assert!(description.contains("Sub-topology: 0"), "{description}");
    assert!(description.contains("Sub-topology: 1"), "{description}");
    assert!(
        description.contains("(topic: counts-store-repartition)"),
        "{description}"
    );
    assert!(
        description.contains("(topics: [counts-store-repartition])"),
        "{description}"
    );
    assert!(
        description.contains("(stores: [counts-store])"),
        "{description}"
    );

    let driver = TestDriver::builder(topology)
        .application_id("wordcount")
        .default_partitions(4)
        .build()
        .unwrap();
    assert_eq!(driver.task_ids().len(), 8, "4 partitions x 2 subtopologies");
    let input = driver.input_topic("streams-plaintext-input", StringSerde, StringSerde);
    let lines = [
        "all streams lead to kafka",
        "hello kafka streams",
        "join kafka summit",
    ];
    for l in lines {
        input.pipe_keyless(l.to_string()).unwrap();
    }
    let sizes = driver.topic_sizes();
    assert_eq!(
        sizes["wordcount-counts-store-repartition"], 11,
        "one record per word"
    );

    let output = driver.output_topic("streams-wordcount-output", StringSerde, Nullable(I64Serde));
    let latest = output.read_key_values_to_map();
    let expect = [
        ("all", 1),
        ("streams", 2),
        ("lead", 1),
        ("to", 1),
        ("kafka", 3),
        ("hello", 1),
        ("join", 1),
        ("summit", 1),
    ];
    assert_eq!(latest.len(), expect.len());
    for (w, n) in expect {
        assert_eq!(latest[w], Some(n), "count of {w}");
        let store = driver
            .key_value_store::<String, i64>("counts-store")
            .unwrap();
        assert_eq!(store.get(&w.to_string()).unwrap(), Some(n));
    }
    // Each word's count lives in the partition murmur2 gives its key.
    let store = driver
        .key_value_store::<String, i64>("counts-store")
        .unwrap();
    for (w, _) in expect {
        let p = kstreams::runtime::partitioner::partition_for_key(w.as_bytes(), 4) as usize;
        assert_eq!(store.partition_of(&w.to_string()).unwrap(), Some(p), "{w}");
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CounterMetric {
    name: String,
    count: i64,
}

impl CounterMetric {
    fn add(self, other: CounterMetric) -> CounterMetric {
        CounterMetric {
            name: self.name,
            count: self.count + other.count,
        }
    }
    fn subtract(self, other: CounterMetric) -> CounterMetric {
        CounterMetric {
            name: self.name,
            count: self.count - other.count,
        }
    }
}

#[test]
fn metrics_aggregation_replaces_an_instances_previous_report() {
    // The talk's second topology: instances report monotonic counters keyed by instance id;
    // group by metric name, reduce with add and subtract.
    let builder = StreamsBuilder::new();
    builder
        .table(
            "metrics",
            Consumed::with(StringSerde, JsonSerde::<CounterMetric>::new()),
            Materialized::named("raw-metrics"),
        )
        .group_by(
            |_, m| (m.name.clone(), m.clone()),
            Grouped::with(StringSerde, JsonSerde::<CounterMetric>::new()),
        )
        .reduce(
            CounterMetric::add,
            CounterMetric::subtract,
            Materialized::named("aggregates"),
        )
        .to_stream()
        .to("metrics-agg", Produced::inherit());
    let driver = TestDriver::builder(builder.build().unwrap())
        .build()
        .unwrap();
    let input = driver.input_topic("metrics", StringSerde, JsonSerde::<CounterMetric>::new());
    let m = |n: i64| CounterMetric {
        name: "records".into(),
        count: n,
    };
    input.pipe_input("app-1".into(), m(10)).unwrap();
    input.pipe_input("app-2".into(), m(5)).unwrap();
    input.pipe_input("app-1".into(), m(15)).unwrap(); // re-report: replaces 10
    input.pipe_input("app-2".into(), m(7)).unwrap();
    let output = driver.output_topic(
        "metrics-agg",
        StringSerde,
        Nullable(JsonSerde::<CounterMetric>::new()),
    );
    let totals: Vec<i64> = output
        .read_values()
        .into_iter()
        .map(|v| v.unwrap().count)
        .collect();
    assert_eq!(totals, vec![10, 15, 20, 22]);

    // An instance that stops (tombstone) is subtracted out.
    input.pipe_tombstone("app-1".into(), 100).unwrap();
    let last = output.read_values().pop().unwrap().unwrap();
    assert_eq!(last.count, 7);
}
