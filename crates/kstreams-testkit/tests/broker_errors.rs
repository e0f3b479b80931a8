//! Error handlers on the Kafka runtime: poison pills on a real broker go to the dead-letter
//! topic with KIP-1034 headers, an output the producer refuses is skipped and counted, and
//! the good records around them all arrive. (Every handler choice is also tested record by
//! record on the test driver, which runs the same task step: kstreams/tests/error_handlers.rs.)

use kstreams::processor::{dlq_headers, DeadLetter, LogAndContinue};
use kstreams::runtime::kafka::{KafkaStreams, StreamsConfig};
use kstreams::serde::{I64Serde, StringSerde};
use kstreams::{Consumed, Produced, StreamsBuilder, StreamsError};
use kstreams_testkit::broker::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Reads every record of a one-partition topic with its headers as strings.
fn read_with_headers(
    broker: &TestBroker,
    topic: &str,
    expected: usize,
) -> Vec<(Vec<u8>, HashMap<String, String>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", TestBroker::unique("dlq-reader"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let mut headers = HashMap::new();
            if let Some(h) = m.headers() {
                for x in h.iter() {
                    let v = x.value.map(|v| String::from_utf8_lossy(v).into_owned());
                    headers.insert(x.key.to_string(), v.unwrap_or_default());
                }
            }
            out.push((m.payload().unwrap_or_default().to_vec(), headers));
        }
    }
    out
}

#[test]
fn poison_pills_go_to_the_dead_letter_topic_and_refused_outputs_are_skipped() {
    let broker = TestBroker::from_env();
    let app = TestBroker::unique("errors");
    let (input, output, dlq) = (
        TestBroker::unique("err-in"),
        TestBroker::unique("err-out"),
        TestBroker::unique("err-dlq"),
    );
    for t in [&input, &output, &dlq] {
        broker.create_topic(t, 1).unwrap();
    }
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream(&input, Consumed::with(StringSerde, I64Serde))
            .map_values(|v| {
                assert!(v != 13, "thirteen is unlucky");
                // 1_000_000 becomes a value larger than the producer's message.max.bytes.
                if v == 1_000_000 {
                    "x".repeat(2_000_000)
                } else {
                    v.to_string()
                }
            })
            .to(&output, Produced::with(StringSerde, StringSerde));
        builder.build().unwrap()
    };

    // Without the dead-letter topic the application refuses to start, naming it.
    let missing = TestBroker::unique("no-such-dlq");
    let config = |dlq: &str| {
        StreamsConfig::new(&app, broker.bootstrap())
            .commit_interval(Duration::from_millis(100))
            .deserialization_handler(DeadLetter)
            .processing_handler(DeadLetter)
            .production_handler(LogAndContinue)
            .dead_letter_topic(dlq)
    };
    let refused = KafkaStreams::new(topology(), config(&missing)).start();
    match refused {
        Err(StreamsError::Config(msg)) => assert!(msg.contains(&missing), "{msg}"),
        other => panic!("started without its dead-letter topic: {other:?}"),
    }

    let streams = KafkaStreams::new(topology(), config(&dlq));
    streams.start().unwrap();
    let producer = broker.producer();
    let values: Vec<Vec<u8>> = vec![
        1i64.to_be_bytes().to_vec(),
        b"not a long".to_vec(),
        2i64.to_be_bytes().to_vec(),
        13i64.to_be_bytes().to_vec(),
        1_000_000i64.to_be_bytes().to_vec(),
        3i64.to_be_bytes().to_vec(),
    ];
    for v in &values {
        producer
            .send(BaseRecord::to(&input).key("k").payload(v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let out = broker.consume(&output, 1, 3, Duration::from_secs(60));
    let got: Vec<String> = out
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(got, vec!["1", "2", "3"]);

    let dead = read_with_headers(&broker, &dlq, 2);
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].0, values[1]);
    assert_eq!(dead[0].1[dlq_headers::EXCEPTION], "Deserialization");
    assert_eq!(dead[0].1[dlq_headers::OFFSET], "1");
    assert_eq!(dead[1].0, values[3]);
    assert_eq!(dead[1].1[dlq_headers::EXCEPTION], "Processing");
    assert_eq!(dead[1].1[dlq_headers::TOPIC], input);
    assert_eq!(dead[1].1[dlq_headers::PARTITION], "0");
    assert_eq!(dead[1].1[dlq_headers::OFFSET], "3");
    assert!(dead[1].1[dlq_headers::MESSAGE].contains("thirteen is unlucky"));

    streams.close();
    let m = streams.metrics().tasks;
    assert_eq!(
        (
            m.deserialization_errors,
            m.processing_errors,
            m.production_errors,
            m.dead_lettered
        ),
        (1, 1, 1, 2),
        "{m:?}"
    );
    assert_eq!(m.dropped, 3, "every skipped record is counted");
}
