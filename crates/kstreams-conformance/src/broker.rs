//! What the harness asks of the broker: topics, the input, reading a topic in full,
//! committed offsets and end offsets.

use crate::input::InputTopic;
use crate::Error;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

fn kafka(what: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
    let what = what.into();
    move |e| Error::Broker(format!("{what}: {e}"))
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Timestamp, ms.
    pub timestamp: i64,
}

/// Creates topics `(name, partitions)`, waiting until metadata shows them.
pub fn create_topics(bootstrap: &str, topics: &[(String, i32)]) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(kafka("admin client"))?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(-1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    for r in futures_executor::block_on(admin.create_topics(&new, &opts))
        .map_err(kafka("creating topics"))?
    {
        r.map_err(|(t, e)| Error::Broker(format!("creating {t}: {e}")))?;
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let md = admin
            .inner()
            .fetch_metadata(None, TIMEOUT)
            .map_err(kafka("metadata"))?;
        let all = topics.iter().all(|(n, p)| {
            md.topics()
                .iter()
                .any(|t| t.name() == n && t.partitions().len() == *p as usize)
        });
        if all {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Broker(
                "created topics did not show in metadata".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes every input topic under `prefix`, each record to its partition with its
/// timestamp, and waits for the acknowledgements.
pub fn write_input(bootstrap: &str, prefix: &str, topics: &[InputTopic]) -> Result<(), Error> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "10")
        .create()
        .map_err(kafka("input producer"))?;
    for t in topics {
        let name = format!("{prefix}{}", t.name);
        for r in &t.records {
            let mut rec: BaseRecord<'_, str, str> = BaseRecord::to(&name)
                .partition(r.partition)
                .timestamp(r.timestamp);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_str());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_str());
            }
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        producer.poll(Duration::from_millis(10));
                        rec = back;
                    }
                }
            }
        }
    }
    producer
        .flush(TIMEOUT)
        .map_err(kafka("input acknowledgements"))
}

/// A consumer that only reads metadata, offsets, or partitions it is assigned.
pub fn reader(bootstrap: &str, group: &str) -> Result<BaseConsumer, Error> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(kafka("consumer"))
}

/// Names and partition counts of every topic.
pub fn topics(consumer: &BaseConsumer) -> Result<BTreeMap<String, i32>, Error> {
    let md = consumer
        .fetch_metadata(None, TIMEOUT)
        .map_err(kafka("metadata"))?;
    Ok(md
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// The end offset of every partition of `topic`.
pub fn end_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> Result<Vec<i64>, Error> {
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, TIMEOUT)
                .map(|(_, high)| high)
                .map_err(kafka(format!("end offsets of {topic}-{p}")))
        })
        .collect()
}

/// Committed offset (if any) and metadata, per topic and partition.
pub type Committed = BTreeMap<(String, i32), (Option<i64>, String)>;

/// The offsets and metadata `group` committed for every partition of `topics`.
pub fn committed(
    bootstrap: &str,
    group: &str,
    topics: &[(String, i32)],
) -> Result<Committed, Error> {
    let consumer = reader(bootstrap, group)?;
    let mut tpl = TopicPartitionList::new();
    for (t, n) in topics {
        for p in 0..*n {
            tpl.add_partition(t, p);
        }
    }
    let got = consumer
        .committed_offsets(tpl, TIMEOUT)
        .map_err(kafka(format!("committed offsets of {group}")))?;
    Ok(got
        .elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            (
                (e.topic().to_string(), e.partition()),
                (offset, e.metadata().to_string()),
            )
        })
        .collect())
}

/// Every record of `topic`, per partition in offset order, up to the end offsets of now.
pub fn read_all(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<Vec<Record>>, Error> {
    let consumer = reader(bootstrap, &format!("conformance-reader-{topic}"))?;
    let ends = end_offsets(&consumer, topic, partitions)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(kafka("assign"))?;
    }
    consumer
        .assign(&tpl)
        .map_err(kafka(format!("assigning {topic}")))?;
    let mut out = vec![Vec::new(); partitions as usize];
    let mut next = vec![0i64; partitions as usize];
    let done = |next: &[i64]| next.iter().zip(&ends).all(|(n, e)| n >= e);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(&next) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let p = m.partition() as usize;
                next[p] = m.offset() + 1;
                out[p].push(Record {
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    timestamp: m.timestamp().to_millis().unwrap_or(-1),
                });
            }
            Some(Err(e)) => return Err(Error::Broker(format!("reading {topic}: {e}"))),
            None => {
                // Transaction markers move the position without a record.
                if let Ok(pos) = consumer.position() {
                    for e in pos.elements() {
                        if let Offset::Offset(o) = e.offset() {
                            let p = e.partition() as usize;
                            next[p] = next[p].max(o);
                        }
                    }
                }
                if Instant::now() > deadline {
                    return Err(Error::Broker(format!("reading {topic} timed out")));
                }
            }
        }
    }
    Ok(out)
}
