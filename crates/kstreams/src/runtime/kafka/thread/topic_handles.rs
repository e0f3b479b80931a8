//! Producing through topic handles looked up once.
//!
//! rust-rdkafka's `BaseProducer::send` names the topic of every record: it copies the name
//! into a fresh `CString`, and librdkafka looks the topic up by name under the client's
//! write lock, the lock its broker threads take to read. A stream thread sends millions of
//! records to a handful of topics, so here each topic is looked up once, the first time a
//! task sends to it, and every record goes to librdkafka with the handle
//! (`RD_KAFKA_VTYPE_RKT`), which costs one reference count.

use super::producer::ThreadProducer;
use crate::processor::Headers;
use crate::runtime::collector::OutgoingRecord;
use rdkafka::bindings as rd;
use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;
use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::rc::Rc;

/// librdkafka's `RD_KAFKA_PARTITION_UA`, a macro bindgen does not bind: the producer's
/// partitioner chooses.
const PARTITION_UNASSIGNED: i32 = -1;

/// Why librdkafka did not take a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProduceError {
    /// The topic's name holds a NUL byte, which no Kafka topic name can.
    #[error("the topic name contains a NUL byte")]
    TopicName,
    /// librdkafka made no handle for the topic.
    #[error("librdkafka made no handle for the topic: {0}")]
    Topic(RDKafkaErrorCode),
    /// A partition beyond Kafka's (an `int32`), from a custom partitioner.
    #[error("partition {0} does not exist: Kafka numbers partitions with 32-bit signed integers")]
    Partition(u32),
    /// librdkafka refused the record; `QueueFull` asks to serve delivery reports and retry.
    #[error("{0}")]
    Produce(RDKafkaErrorCode),
}

/// One topic handle of a producer, released when dropped.
struct TopicHandle {
    name: Box<str>,
    rkt: NonNull<rd::rd_kafka_topic_t>,
}

/// The handles of the topics a task has sent to, over the producer they belong to.
///
/// The handles are dropped before the producer: `handles` is declared first.
pub(crate) struct TopicHandles {
    /// Few (a task's sinks, changelogs and dead-letter topic), so found by a linear scan,
    /// which is cheaper than hashing the name.
    handles: Vec<TopicHandle>,
    producer: Rc<ThreadProducer>,
}

impl TopicHandles {
    /// No handles yet, for topics of `producer`.
    pub(crate) fn new(producer: Rc<ThreadProducer>) -> Self {
        TopicHandles {
            handles: Vec::new(),
            producer,
        }
    }

    /// The producer the records go to.
    pub(crate) fn producer(&self) -> &ThreadProducer {
        &self.producer
    }

    fn handle(&mut self, topic: &str) -> Result<NonNull<rd::rd_kafka_topic_t>, ProduceError> {
        if let Some(h) = self.handles.iter().find(|h| &*h.name == topic) {
            return Ok(h.rkt);
        }
        let name = CString::new(topic).map_err(|_| ProduceError::TopicName)?;
        // SAFETY: the client handle is valid while `self.producer` lives; librdkafka copies
        // the NUL-terminated name and, with no configuration given, uses the producer's
        // default topic configuration, as a send by name does.
        let rkt = unsafe {
            rd::rd_kafka_topic_new(
                self.producer.client().native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        let rkt = NonNull::new(rkt).ok_or_else(|| {
            // SAFETY: reads this thread's last librdkafka error, set by the failed call.
            ProduceError::Topic(unsafe { rd::rd_kafka_last_error() }.into())
        })?;
        self.handles.push(TopicHandle {
            name: topic.into(),
            rkt,
        });
        Ok(rkt)
    }

    /// Hands `record` to librdkafka, which copies its key and value. Returns at once; the
    /// delivery report comes through the producer's event queue, as for any send.
    pub(crate) fn produce(&mut self, record: &OutgoingRecord<'_>) -> Result<(), ProduceError> {
        let rkt = self.handle(record.topic)?;
        let (key, key_len) = bytes(record.key);
        let (value, value_len) = bytes(record.value);
        let partition = match record.partition {
            None => PARTITION_UNASSIGNED,
            Some(p) => i32::try_from(p).map_err(|_| ProduceError::Partition(p))?,
        };
        let headers = native_headers(record.headers);
        // SAFETY: the client and topic handles are valid (see `handle`); key and value are
        // only read during the call (RD_KAFKA_MSG_F_COPY); every variadic argument has the
        // type librdkafka reads for its tag, up to the END tag. On success the headers
        // belong to librdkafka; on failure they stay ours and are destroyed below.
        let err = unsafe {
            rd::rd_kafka_producev(
                self.producer.client().native_ptr(),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_RKT,
                rkt.as_ptr(),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_PARTITION,
                partition,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS,
                rd::RD_KAFKA_MSG_F_COPY,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE,
                value,
                value_len,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY,
                key,
                key_len,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TIMESTAMP,
                record.timestamp,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADERS,
                headers,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_END,
            )
        };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Ok(());
        }
        if !headers.is_null() {
            // SAFETY: librdkafka did not take the headers made above; nothing else has them.
            unsafe { rd::rd_kafka_headers_destroy(headers) };
        }
        Err(ProduceError::Produce(err.into()))
    }
}

impl Drop for TopicHandles {
    fn drop(&mut self) {
        for h in self.handles.drain(..) {
            // SAFETY: each handle came from `rd_kafka_topic_new` on this producer, which is
            // still alive (it is dropped after this), and is released once.
            unsafe { rd::rd_kafka_topic_destroy(h.rkt.as_ptr()) };
        }
    }
}

/// Pointer and length of optional bytes; null for Kafka's null.
fn bytes(b: Option<&[u8]>) -> (*mut c_void, usize) {
    match b {
        Some(b) => (b.as_ptr().cast_mut().cast(), b.len()),
        None => (std::ptr::null_mut(), 0),
    }
}

/// librdkafka's copy of `headers`, or null when there are none (librdkafka then writes
/// none).
fn native_headers(headers: &Headers) -> *mut rd::rd_kafka_headers_t {
    if headers.is_empty() {
        return std::ptr::null_mut();
    }
    // SAFETY: a new, empty list, ours until handed to `rd_kafka_producev`.
    let list = unsafe { rd::rd_kafka_headers_new(headers.0.len()) };
    for h in headers.iter() {
        let (value, size) = match &h.value {
            Some(v) => (v.as_ptr().cast::<c_void>(), v.len() as isize),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: name and value are read with their explicit sizes and copied; a null
        // value is Kafka's null header value. Adding to a list cannot fail.
        unsafe {
            rd::rd_kafka_header_add(
                list,
                h.key.as_ptr().cast(),
                h.key.len() as isize,
                value,
                size,
            );
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::super::producer::{flush_producer, DeliveryContext};
    use super::*;
    use crate::processor::Header;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers as _, Message};
    use rdkafka::mocking::MockCluster;
    use rdkafka::TopicPartitionList;
    use std::time::{Duration, Instant};

    /// A thread producer on `cluster`, where topic "out" has `partitions` partitions.
    fn producer_with_topic(
        cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
        partitions: i32,
    ) -> Rc<ThreadProducer> {
        cluster.create_topic("out", partitions, 1).expect("topic");
        Rc::new(
            ClientConfig::new()
                .set("bootstrap.servers", cluster.bootstrap_servers())
                .create_with_context(DeliveryContext::default())
                .expect("producer"),
        )
    }

    fn record<'a>(
        topic: &'a str,
        partition: Option<u32>,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a Headers,
    ) -> OutgoingRecord<'a> {
        OutgoingRecord {
            topic,
            partition,
            key,
            value,
            timestamp: 1_700_000_000_123,
            headers,
        }
    }

    /// Everything on `topic`'s `partition`, as (key, value, timestamp, headers).
    #[allow(clippy::type_complexity)]
    fn read_back(
        bootstrap: &str,
        topic: &str,
        partition: i32,
        expected: usize,
    ) -> Vec<(
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<i64>,
        Vec<(String, Option<Vec<u8>>)>,
    )> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "topic-handles-test")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while out.len() < expected && Instant::now() < deadline {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            out.push((
                m.key().map(<[u8]>::to_vec),
                m.payload().map(<[u8]>::to_vec),
                m.timestamp().to_millis(),
                headers,
            ));
        }
        out
    }

    #[test]
    /// Key, value, timestamp, partition and headers (a null header value among them) reach
    /// the topic as given; nulls stay nulls; one handle serves every record of a topic.
    fn records_produced_through_a_handle_arrive_whole() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        let producer = producer_with_topic(&cluster, 2);
        let mut handles = TopicHandles::new(producer.clone());
        let mut headers = Headers::new();
        headers
            .add("trace", Some(b"abc".to_vec()))
            .add("gone", None);
        let none = Headers::new();
        let sent = [
            record("out", Some(1), Some(b"k1"), Some(b"v1"), &headers),
            record("out", Some(1), None, Some(b"v2"), &none),
            record("out", Some(1), Some(b"k3"), None, &none),
        ];
        for r in &sent {
            handles.produce(r).expect("produced");
        }
        assert_eq!(handles.handles.len(), 1, "one handle per topic");
        flush_producer(&producer, Duration::from_secs(20)).expect("flushed");
        assert!(producer.context().failure.lock().expect("lock").is_none());

        let got = read_back(&cluster.bootstrap_servers(), "out", 1, 3);
        let trace = ("trace".to_string(), Some(b"abc".to_vec()));
        let gone = ("gone".to_string(), None);
        let ts = Some(1_700_000_000_123);
        assert_eq!(
            got,
            vec![
                (
                    Some(b"k1".to_vec()),
                    Some(b"v1".to_vec()),
                    ts,
                    vec![trace, gone]
                ),
                (None, Some(b"v2".to_vec()), ts, vec![]),
                (Some(b"k3".to_vec()), None, ts, vec![]),
            ]
        );
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("consumer");
        let watermarks = consumer
            .fetch_watermarks("out", 0, Duration::from_secs(10))
            .expect("watermarks");
        assert_eq!(watermarks, (0, 0), "nothing went to partition 0");
        // The headers were librdkafka's to free; what is left is released before the
        // producer.
        drop(handles);
        assert_eq!(Rc::strong_count(&producer), 1);
    }

    #[test]
    fn a_topic_name_with_a_nul_byte_is_refused_and_a_missing_partition_named() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        let producer = producer_with_topic(&cluster, 1);
        let mut handles = TopicHandles::new(producer);
        let none = Headers(vec![Header {
            key: "h".into(),
            value: None,
        }]);
        let nul = handles.produce(&record("o\0ut", None, None, Some(b"v"), &none));
        assert_eq!(nul, Err(ProduceError::TopicName));
        let beyond = handles.produce(&record("out", Some(1 << 31), None, Some(b"v"), &none));
        assert_eq!(beyond, Err(ProduceError::Partition(1 << 31)));
        // Once librdkafka knows the topic has one partition, partition 7 is refused at once
        // (and the headers offered with it are freed here, not leaked).
        let deadline = Instant::now() + Duration::from_secs(20);
        let refused = loop {
            match handles.produce(&record("out", Some(7), None, Some(b"v"), &none)) {
                Err(e) => break e,
                Ok(()) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Ok(()) => panic!("partition 7 of a one-partition topic was never refused"),
            }
        };
        assert_eq!(
            refused,
            ProduceError::Produce(RDKafkaErrorCode::UnknownPartition)
        );
    }
}
