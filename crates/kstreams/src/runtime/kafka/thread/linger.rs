//! When a stream thread's output leaves: in large batches while the thread is behind its
//! input, at once when it has caught up.
//!
//! Every produce request, and every partition's batch in it, costs the thread's
//! librdkafka, the broker and each consumer downstream about the same whatever it holds,
//! so larger batches save CPU all along a pipeline: over 2M records of `records bench`,
//! `linger.ms` 50 instead of 5 used 14–24% less CPU in the roles and 20–23% less in the
//! broker. But a record lingers for the whole `linger.ms` at every hop once the pipeline
//! keeps up with its input, where latency is measured: at 2,900 records/s the same change
//! doubled and tripled the notifications' p50.
//!
//! A thread that is behind loses nothing by lingering: its next records already wait on
//! the broker, and its output waits for them anyway. So the producer lingers long,
//! Kafka Streams' `linger.ms` of 100, and the loop sends what lingers as soon as the thread
//! has caught up, that is when its last poll emptied the fetch queue and no more than a
//! batch of records waits on the broker or in its partition groups
//! ([`send_if_caught_up`]). A caught-up thread sends once per loop turn, and its turns
//! come with its fetches, so its output leaves in batches of one fetch's worth, without
//! lingering. While it is behind, a partition's records go once they are a batch
//! (`batch.num.messages`, 1,000 unless the user sets it) or have lingered 100 ms, and a
//! full producer queue is sent at once rather than wait out the linger ([`make_room`]).
//!
//! Under exactly-once a caught-up thread does not send early: its output becomes visible
//! to read_committed consumers only when its transaction commits, every
//! `commit.interval.ms` (100 ms by default), and the commit sends what lingers first. (The
//! exactly-once tests on librdkafka's mock broker depend on that: the mock does not hide
//! aborted records, so their transactions' records must stay in the producer until the
//! commit.)

use super::poll_loop::cached_watermarks;
use super::producer::{flush_producer, serve_delivery_reports, ThreadProducer};
use super::MAX_BATCH;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::Producer as _;
use rdkafka::Offset;
use std::time::Duration;

/// Sends the records the producer holds back if the thread has caught up with its input:
/// `polled`, the records its last poll took, did not fill a batch (the fetch queue is
/// empty), and the records known to wait on the broker for its partitions, with the
/// `buffered` ones its partition groups hold, are no more than a batch.
///
/// Does nothing if every record produced is acknowledged. Otherwise the lag is read from
/// librdkafka's cached positions and high watermarks: no request to the broker. A
/// caught-up thread sends once per loop turn, and its turns come with its fetches, so its
/// output leaves in batches of one fetch's worth. A send that timed out is made again the
/// next turn (see [`send_caught_up`]), which comes within [`RETRY_WITHIN`].
pub(super) fn send_if_caught_up<C: ConsumerContext>(
    producer: &ThreadProducer,
    consumer: &BaseConsumer<C>,
    polled: usize,
    buffered: usize,
) {
    if polled >= MAX_BATCH || producer.in_flight_count() == 0 {
        return;
    }
    if backlog(consumer).saturating_add(buffered as i64) > MAX_BATCH as i64 {
        return;
    }
    send_caught_up(producer);
}

/// Longest the loop waits for records while some of its output is unacknowledged: the
/// next turn sends it again if it is still held back.
pub(super) const RETRY_WITHIN: Duration = Duration::from_millis(5);

/// Records on the broker after the consumer's position, over its assigned partitions;
/// a partition with no fetch answered yet counts none.
fn backlog<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> i64 {
    let Ok(positions) = consumer.position() else {
        return 0;
    };
    positions
        .elements()
        .iter()
        .filter_map(|e| {
            let Offset::Offset(position) = e.offset() else {
                return None;
            };
            let (_, high) = cached_watermarks(consumer, e.topic(), e.partition())?;
            Some((high - position).max(0))
        })
        .sum()
}

/// Longest a caught-up thread waits for the acknowledgements of what it sent at once.
const SEND_WAIT: Duration = Duration::from_millis(5);

/// Has librdkafka send every record it holds back for `linger.ms`, and waits for their
/// acknowledgements for at most [`SEND_WAIT`].
///
/// librdkafka has no call for that: its linger counts as zero only while a flush call
/// lasts, and a broker thread that wakes after the call has returned sends nothing until
/// the linger is up. With a flush of 1 ms, at 2,900 records/s on a busy machine, every
/// stage's p99 rose from 48–79 ms to 105–272 ms: records left behind for the whole 100 ms.
/// So the flush is held until the records are acknowledged, which on a local broker takes
/// about a millisecond, and for no more than [`SEND_WAIT`]: the thread had caught up, and
/// records that come meanwhile wait at most that long. Records whose broker thread did not
/// run within that time are still unacknowledged at the next turn, and sent again then.
fn send_caught_up(producer: &ThreadProducer) {
    // Only the wait can fail: what is still unacknowledged is sent again.
    if let Err(e) = flush_producer(producer, SEND_WAIT) {
        tracing::trace!("sent lingering records, not all acknowledged yet: {e}");
    }
}

/// Makes room in a full producer queue: has librdkafka send what it holds back, for 1 ms,
/// and serves the delivery reports that came meanwhile. The caller tries again.
///
/// It does not wait for every acknowledgement. A build that did, with librdkafka's
/// `batch.num.messages` of 10,000 (so that a thread behind its input filled the queue
/// before any batch went), kept velocity's replay, six changelog records per record, from
/// working while its records were on the way: 79,000–87,000 records/s against
/// 103,000–125,000 with `linger.ms` 5. With batches of 1,000 and this, it replays as fast
/// as with `linger.ms` 5.
pub(super) fn make_room(producer: &ThreadProducer) {
    // SAFETY: the pointer is the producer's own handle, alive as long as `producer`. With
    // delivery reports as events (as rdkafka configures them), the call only waits, up to
    // 1 ms, for the messages in flight to be reported; it serves no queue.
    unsafe {
        rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), 1);
    }
    serve_delivery_reports(producer);
}
