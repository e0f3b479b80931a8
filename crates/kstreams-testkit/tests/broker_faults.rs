//! Fault injection on the mock broker: request errors and a broker outage. The application
//! keeps running, recovers, and loses nothing.
//!
//! Fault injection needs the mock's control API; against an external broker this test says
//! so and checks only the fault-free path.

use kstreams::runtime::kafka::{KafkaStreams, State, StreamThreadExceptionResponse, StreamsConfig};
use kstreams::serde::StringSerde;
use kstreams::{Consumed, Produced, StreamsBuilder};
use kstreams_testkit::broker::TestBroker;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const BATCH: usize = 500;

fn batch(from: usize) -> impl Iterator<Item = (String, String)> {
    (from..from + BATCH).map(|i| (format!("k{i}"), format!("v{i}")))
}

fn wait_for_all(broker: &TestBroker, output: &str, total: usize) -> HashMap<String, usize> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let records = broker.consume(output, 4, usize::MAX, Duration::from_secs(3));
        let mut seen = HashMap::new();
        for r in records {
            *seen
                .entry(String::from_utf8(r.value.unwrap()).unwrap())
                .or_insert(0) += 1;
        }
        if (0..total).all(|i| seen.contains_key(&format!("V{i}"))) || Instant::now() > deadline {
            return seen;
        }
    }
}

#[test]
fn survives_request_errors_and_a_broker_outage_without_loss() {
    let broker = TestBroker::from_env();
    let app = TestBroker::unique("faults");
    let (input, output) = (TestBroker::unique("f-in"), TestBroker::unique("f-out"));
    broker.create_topic(&input, 4).unwrap();
    broker.create_topic(&output, 4).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream(&input, Consumed::with(StringSerde, StringSerde))
        .map_values(|v| v.to_uppercase())
        .to(&output, Produced::with(StringSerde, StringSerde));
    let config = StreamsConfig::new(&app, broker.bootstrap())
        .commit_interval(Duration::from_millis(100))
        .client_config("session.timeout.ms", "10000");
    let streams = KafkaStreams::new(builder.build().unwrap(), config);
    streams.set_uncaught_exception_handler(|_| StreamThreadExceptionResponse::ReplaceThread);
    streams.start().unwrap();

    broker.produce(&input, batch(0));
    let mut produced = BATCH;
    if let Some(mock) = broker.mock() {
        // Retriable errors on every path the runtime uses: produce, fetch, commit.
        use RDKafkaRespErr::*;
        mock.request_errors(
            RDKafkaApiKey::Produce,
            &[RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 5],
        );
        mock.request_errors(
            RDKafkaApiKey::Fetch,
            &[RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 5],
        );
        mock.request_errors(
            RDKafkaApiKey::OffsetCommit,
            &[RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE; 3],
        );
        broker.produce(&input, batch(produced));
        produced += BATCH;
        let seen = wait_for_all(&broker, &output, produced);
        assert!(
            (0..produced).all(|i| seen.contains_key(&format!("V{i}"))),
            "records lost under request errors"
        );

        // The only broker goes down for three seconds, with records waiting in the input.
        broker.produce(&input, batch(produced));
        produced += BATCH;
        mock.broker_down(1).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            !matches!(streams.state(), State::Error | State::NotRunning),
            "the client survives the outage"
        );
        mock.broker_up(1).unwrap();
    } else {
        println!("external broker: fault injection needs the mock's control API; checking the plain path only");
    }
    broker.produce(&input, batch(produced));
    produced += BATCH;
    let seen = wait_for_all(&broker, &output, produced);
    let lost: Vec<usize> = (0..produced)
        .filter(|i| !seen.contains_key(&format!("V{i}")))
        .collect();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "records in: {produced}, distinct out: {}, lost: {}, processed twice: {duplicates}",
        seen.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(matches!(
        streams.state(),
        State::Running | State::Rebalancing
    ));
    streams.close();
    assert_eq!(streams.state(), State::NotRunning);
}
