//! A stream thread's producer: its delivery reports (the first failed delivery, the
//! production handler's verdict, the changelog offsets acknowledged), the commit's flush,
//! and the collector that hands a task's output to it.

use super::topic_handles::{ProduceError, TopicHandles};
use crate::error::StreamsError;
use crate::processor::{ProductionResponse, SharedProductionHandler};
use crate::runtime::collector::{OutgoingRecord, RecordCollector};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Remembers the first failed delivery, so that the commit that follows refuses to commit
/// offsets past a record whose output was lost; or, when the production handler says
/// continue, logs and counts it (never for changelog records).
#[derive(Default)]
pub(crate) struct DeliveryContext {
    pub(crate) failure: Arc<Mutex<Option<String>>>,
    /// Decides about failed deliveries of output records; `None` under exactly-once, where
    /// a failed delivery fails the transaction whatever a handler says.
    pub(crate) production_handler: Option<SharedProductionHandler>,
    pub(crate) skipped: Arc<AtomicU64>,
    /// Highest acknowledged offset per changelog topic and partition, for checkpoints.
    pub(crate) changelog_acked: Arc<Mutex<HashMap<String, HashMap<i32, i64>>>>,
    /// Delivery reports served so far, acknowledged or failed.
    pub(crate) reports: AtomicU64,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        self.reports.fetch_add(1, Ordering::Relaxed);
        if let Ok(msg) = result {
            let topic = msg.topic();
            if topic.ends_with("-changelog") {
                let mut acked = self
                    .changelog_acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let parts = match acked.get_mut(topic) {
                    Some(p) => p,
                    None => acked.entry(topic.to_string()).or_default(),
                };
                let slot = parts.entry(msg.partition()).or_insert(-1);
                *slot = (*slot).max(msg.offset());
            }
        }
        if let Err((e, msg)) = result {
            if matches!(
                e.rdkafka_error_code(),
                Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
            ) {
                // Records of a transaction being aborted: they are reprocessed, not lost.
                tracing::debug!(
                    "record to {} discarded with its aborted transaction",
                    msg.topic()
                );
                return;
            }
            let what = format!(
                "delivery to {} partition {} failed: {e}",
                msg.topic(),
                msg.partition()
            );
            // Changelog records never go to the handler: skipping one would make a store
            // and its changelog disagree.
            if let Some(handler) = self
                .production_handler
                .as_ref()
                .filter(|_| !msg.topic().ends_with("-changelog"))
            {
                let err = StreamsError::Send {
                    topic: msg.topic().to_string(),
                    reason: what.clone(),
                };
                if handler.handle(msg.topic(), &err) == ProductionResponse::Continue {
                    tracing::warn!(handler = handler.name(), "skipping output record: {what}");
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            tracing::error!("{what}");
            let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            f.get_or_insert(what);
        }
    }
}

pub(crate) type ThreadProducer = BaseProducer<DeliveryContext>;

/// Most delivery-report events one call of [`serve_delivery_reports`] serves, so that a
/// flood of reports cannot keep the thread from its records.
const MAX_REPORT_EVENTS: usize = 1024;

/// Serves the delivery reports waiting, without blocking.
///
/// `poll(ZERO)` serves one event, the report of one produce request, and the thread makes
/// more produce requests (one per partition and linger) than it runs loops. Each report
/// left waiting keeps its records' copies alive until the commit's flush serves them all,
/// so at 20k records/s a stateless thread grew by about 25 MiB between commits.
pub(crate) fn serve_delivery_reports(producer: &ThreadProducer) {
    use rdkafka::producer::Producer as _;
    for _ in 0..MAX_REPORT_EVENTS {
        let before = producer.context().reports.load(Ordering::Relaxed);
        producer.poll(Duration::ZERO);
        if producer.context().reports.load(Ordering::Relaxed) == before {
            break;
        }
    }
}

/// Waits until every record sent through `producer` is acknowledged (or failed), serving
/// the delivery reports, for at most `timeout`.
///
/// rdkafka's `Producer::flush` asks librdkafka to flush with a timeout of zero and then
/// waits for a delivery report for up to 100 ms: librdkafka treats `linger.ms` as zero only
/// while a flush call lasts, so the records still lingering were sent after the flush had
/// returned, and their reports came only once the 100 ms poll was up. Every commit paid
/// that 100 ms with the thread stopped. Here each wait is itself a short flush call, so the
/// records go at once, and the reports are served as soon as they arrive.
pub(crate) fn flush_producer(
    producer: &ThreadProducer,
    timeout: Duration,
) -> Result<(), KafkaError> {
    use rdkafka::producer::Producer as _;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        serve_delivery_reports(producer);
        if producer.in_flight_count() == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
        }
        // SAFETY: the pointer is the producer's own handle, alive as long as `producer`.
        // With delivery reports as events (as rdkafka configures them), this call only waits,
        // up to 1 ms, for the messages in flight to be reported; it serves no queue.
        unsafe {
            rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), 1);
        }
    }
}

/// Sends a task's records through the thread's producer without waiting for acks; the
/// commit path flushes.
pub(crate) struct ProducerCollector {
    pub(crate) topics: TopicHandles,
    pub(crate) partitions: Arc<super::FastMap<String, u32>>,
}

impl ProducerCollector {
    /// A collector for one task, sending through `producer`.
    pub(crate) fn new(
        producer: Rc<ThreadProducer>,
        partitions: Arc<super::FastMap<String, u32>>,
    ) -> Self {
        ProducerCollector {
            topics: TopicHandles::new(producer),
            partitions,
        }
    }
}

impl RecordCollector for ProducerCollector {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        loop {
            match self.topics.produce(&r) {
                Ok(()) => return Ok(()),
                Err(ProduceError::Produce(RDKafkaErrorCode::QueueFull)) => {
                    // Back-pressure. The queue may be full of records lingering: send them
                    // at once rather than when `linger.ms` is up.
                    super::linger::make_room(self.topics.producer());
                }
                Err(e) => {
                    return Err(StreamsError::Send {
                        topic: r.topic.to_string(),
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    fn partition_count(&self, topic: &str) -> Option<u32> {
        self.partitions.get(topic).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::config::ClientConfig;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseRecord, Producer as _};

    /// A thread producer on a mock cluster with `partitions` partitions of topic "out",
    /// which has sent one record to each of them.
    fn sent_one_per_partition(
        cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
        partitions: i32,
        linger_ms: &str,
    ) -> ThreadProducer {
        cluster.create_topic("out", partitions, 1).expect("topic");
        let producer: ThreadProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("linger.ms", linger_ms)
            .create_with_context(DeliveryContext::default())
            .expect("producer");
        for p in 0..partitions {
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to("out")
                        .payload(b"v")
                        .partition(p),
                )
                .map_err(|(e, _)| e)
                .expect("send");
        }
        producer
    }

    #[test]
    /// Records that would linger for a minute are sent by the commit's flush, and every
    /// report is served before it returns. (How soon is `records bench --rate`'s to show:
    /// rdkafka's own flush passes this too, in about a second instead of milliseconds.)
    fn the_flush_sends_lingering_records_and_serves_their_reports() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        let producer = sent_one_per_partition(&cluster, 4, "60000");
        flush_producer(&producer, Duration::from_secs(20)).expect("flushed within the timeout");
        assert_eq!(producer.in_flight_count(), 0);
        assert_eq!(producer.context().reports.load(Ordering::Relaxed), 4);
    }

    #[test]
    /// With failure reports only (a thread whose stores need no acknowledged offsets), a
    /// delivered record leaves no report, and a failed one still reaches the context.
    fn failures_are_reported_when_only_failures_are() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("out", 1, 1).expect("topic");
        let failures_only = || -> ThreadProducer {
            ClientConfig::new()
                .set("bootstrap.servers", cluster.bootstrap_servers())
                .set("delivery.report.only.error", "true")
                .create_with_context(DeliveryContext::default())
                .expect("producer")
        };
        let producer = failures_only();
        let send = |partition| {
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to("out")
                        .payload(b"v")
                        .partition(partition),
                )
                .map_err(|(e, _)| e)
        };
        for _ in 0..3 {
            send(0).expect("send");
        }
        flush_producer(&producer, Duration::from_secs(20)).expect("flushed");
        assert_eq!(producer.context().reports.load(Ordering::Relaxed), 0);
        assert!(producer.context().failure.lock().expect("lock").is_none());
        // Partition 1 does not exist: once librdkafka knows the topic it is refused at
        // once, so this one goes before metadata has come, and fails in a report.
        let late = failures_only();
        late.send(
            BaseRecord::<[u8], [u8]>::to("out")
                .payload(b"v")
                .partition(1),
        )
        .map_err(|(e, _)| e)
        .expect("queued before metadata");
        flush_producer(&late, Duration::from_secs(20)).expect("flushed");
        assert_eq!(late.context().reports.load(Ordering::Relaxed), 1);
        let failure = late.context().failure.lock().expect("lock").clone();
        assert!(
            failure
                .as_deref()
                .is_some_and(|f| f.contains("partition 1")),
            "{failure:?}"
        );
    }

    #[test]
    /// A full queue of lingering records is sent at once: with a linger of a minute and
    /// room for five records, the collector hands over fifty within seconds. (Serving
    /// delivery reports alone, as before, made room only once the minute was up.)
    fn a_full_queue_is_sent_rather_than_waited_out() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let cluster = MockCluster::new(1).expect("mock cluster");
            cluster.create_topic("out", 1, 1).expect("topic");
            let producer: ThreadProducer = ClientConfig::new()
                .set("bootstrap.servers", cluster.bootstrap_servers())
                .set("linger.ms", "60000")
                .set("queue.buffering.max.messages", "5")
                .create_with_context(DeliveryContext::default())
                .expect("producer");
            let producer = Rc::new(producer);
            let mut collector = ProducerCollector::new(producer.clone(), Arc::default());
            let headers = crate::processor::Headers::default();
            for i in 0..50u32 {
                let value = i.to_be_bytes();
                collector
                    .send(OutgoingRecord {
                        topic: "out",
                        partition: Some(0),
                        key: None,
                        value: Some(&value),
                        timestamp: 0,
                        headers: &headers,
                    })
                    .expect("sent");
            }
            flush_producer(&producer, Duration::from_secs(20)).expect("flushed");
            done.send(()).ok();
        });
        finished
            .recv_timeout(Duration::from_secs(30))
            .expect("fifty records through a queue of five within 30 s");
    }

    #[test]
    fn one_call_serves_every_waiting_delivery_report() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        // One record per partition: eight produce requests, eight report events.
        let producer = sent_one_per_partition(&cluster, 8, "0");
        // Nothing polled yet: the mock acknowledges within milliseconds and the reports
        // wait to be served.
        std::thread::sleep(Duration::from_secs(2));
        serve_delivery_reports(&producer);
        assert_eq!(producer.context().reports.load(Ordering::Relaxed), 8);
        assert_eq!(producer.in_flight_count(), 0);
    }
}
