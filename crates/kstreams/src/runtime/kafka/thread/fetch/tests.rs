//! The fetch queue on the embedded mock broker: records come in order, and a record is
//! handed over as soon as it arrives, not once a batch has filled or the wait is up.

use super::*;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::Offset;
use std::time::Instant;

const TOPIC: &str = "fetched";

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fetch-queue-test")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer")
}

/// A fetch queue of 1,000 records for partition 0 of the topic, which `consumer` is
/// assigned from its beginning.
fn forwarded(consumer: &BaseConsumer) -> FetchQueue<'_> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assigned");
    let fetch = FetchQueue::new(consumer, 1000).expect("fetch queue");
    fetch.forward(&tpl);
    fetch
}

fn produce(cluster: &MockCluster<'_, DefaultProducerContext>, values: &[&str]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    for v in values {
        producer
            .send(BaseRecord::<str, str>::to(TOPIC).key("k").payload(v))
            .expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");
}

#[test]
fn a_lone_record_is_handed_over_without_waiting_for_a_full_batch() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    let consumer = consumer(&cluster.bootstrap_servers());
    let mut fetch = forwarded(&consumer);
    // Produced only now, so every record comes through the forwarded queue.
    produce(&cluster, &["one"]);

    // The batch call alone would hold this record for the whole 30 s, waiting for 999
    // more.
    let wait = Duration::from_secs(30);
    let started = Instant::now();
    let mut out = Vec::new();
    while out.is_empty() && started.elapsed() < wait {
        fetch.consume(wait, &mut out);
    }
    let took = started.elapsed();
    assert!(
        took < wait / 2,
        "the first record took {took:?} with a wait of {wait:?}"
    );
    let values: Vec<String> = out
        .iter()
        .map(|m| {
            let m = m.as_ref().expect("a record, not an error");
            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
        })
        .collect();
    assert_eq!(values, ["one"]);
    drop(out);

    // Records already waiting come in offset order, taken without waiting.
    produce(&cluster, &["two", "three", "four"]);
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < 3 && started.elapsed() < wait {
        std::thread::sleep(Duration::from_millis(50));
        fetch.consume(Duration::ZERO, &mut out);
    }
    let offsets: Vec<i64> = out
        .iter()
        .map(|m| m.as_ref().expect("a record").offset())
        .collect();
    assert_eq!(offsets, [1, 2, 3]);
    assert_eq!(out[0].as_ref().expect("a record").topic(), TOPIC);
}

#[test]
/// The header probe lets records with no headers skip librdkafka's parse, and only them:
/// every record's headers read back as they were sent, a null-valued header and a value
/// that ends in a zero byte (the probe reads the byte after the value) among them.
fn records_with_and_without_headers_read_back_as_sent() {
    use rdkafka::message::{Header, Headers as _, OwnedHeaders};
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    let with = || {
        OwnedHeaders::new()
            .insert(Header {
                key: "trace",
                value: Some(&b"t\0"[..]),
            })
            .insert(Header {
                key: "none",
                value: None::<&[u8]>,
            })
    };
    let sent: [(Option<&[u8]>, Option<OwnedHeaders>); 4] = [
        (Some(b"plain\0"), None),
        (Some(b"headed\0"), Some(with())),
        (None, None),
        (None, Some(with())),
    ];
    for (value, headers) in &sent {
        let mut r = BaseRecord::<str, [u8]>::to(TOPIC).key("k");
        if let Some(v) = value {
            r = r.payload(*v);
        }
        if let Some(h) = headers {
            r = r.headers(h.clone());
        }
        producer.send(r).map_err(|(e, _)| e).expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");

    let consumer = consumer(&cluster.bootstrap_servers());
    let mut fetch = forwarded(&consumer);
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < sent.len() && started.elapsed() < Duration::from_secs(30) {
        fetch.consume(Duration::from_millis(100), &mut out);
    }
    let read: Vec<Vec<(String, Option<Vec<u8>>)>> = out
        .iter()
        .map(|m| {
            let m = m.as_ref().expect("a record, not an error");
            m.headers()
                .map(|h| {
                    h.iter()
                        .map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let both = vec![
        ("trace".to_string(), Some(b"t\0".to_vec())),
        ("none".to_string(), None),
    ];
    assert_eq!(read, vec![vec![], both.clone(), vec![], both]);
    // Without the probe (a build that could not compile it, which CI forbids with
    // KSTREAMS_REQUIRE_HEADER_PROBE) every record may have headers.
    #[cfg(kstreams_header_probe)]
    let probed: Vec<bool> = out
        .iter()
        .map(|m| may_have_headers(m.as_ref().expect("a record").ptr))
        .collect();
    #[cfg(kstreams_header_probe)]
    assert_eq!(probed, [false, true, false, true]);
}
