//! Records taken from librdkafka a batch at a time.
//!
//! rust-rdkafka's `poll` pops one event per record: a queue lock, a clock read, an event
//! and an `Arc` for every record. librdkafka's `rd_kafka_consume_batch_queue` hands over
//! up to a batch at once, but it must never meet a rebalance: rust-rdkafka delivers
//! rebalances as events, with no native rebalance callback, and the batch call answers a
//! rebalance it finds with a forced unassign. So every assigned partition's fetch queue is
//! forwarded to a queue of the thread's own, [`FetchQueue`], which then holds nothing but
//! records and per-partition errors. The consumer queue keeps the rebalances, commit
//! replies and client errors, and the loop serves it with `poll` between batches: a
//! rebalance therefore never runs while a batch is being processed.
//!
//! A record that reached the consumer queue before its partition was forwarded (fetched
//! in the moment between an assignment and the forwarding) is not lost: the loop rewinds
//! its partition to it, and it comes again through the fetch queue.

use crate::error::StreamsError;
use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedHeaders, Message, Timestamp};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

/// The stream thread's own fetch queue. It borrows the consumer: it must be gone before
/// the consumer is closed.
pub(super) struct FetchQueue<'c> {
    queue: NonNull<rd::rd_kafka_queue_t>,
    client: *mut rd::rd_kafka_t,
    /// Reused by every batch: the raw messages librdkafka fills in.
    raw: Vec<*mut rd::rd_kafka_message_t>,
    _consumer: PhantomData<&'c ()>,
}

impl<'c> FetchQueue<'c> {
    /// A queue for up to `batch` records per call.
    pub(super) fn new<C: ConsumerContext>(
        consumer: &'c BaseConsumer<C>,
        batch: usize,
    ) -> Result<Self, StreamsError> {
        let client = consumer.client().native_ptr();
        // SAFETY: the client handle is valid while `consumer` lives, and 'c ties this queue
        // to it.
        let queue = NonNull::new(unsafe { rd::rd_kafka_queue_new(client) }).ok_or_else(|| {
            StreamsError::InvalidState("librdkafka could not create a fetch queue".into())
        })?;
        Ok(FetchQueue {
            queue,
            client,
            raw: vec![std::ptr::null_mut(); batch.max(1)],
            _consumer: PhantomData,
        })
    }

    /// Routes the records of these partitions to this queue from now on; records already
    /// waiting in a partition's own queue move along. Forwarding a partition again is
    /// harmless. librdkafka keeps an application's forwarding when it starts or restarts
    /// fetching a partition.
    pub(super) fn forward(&self, partitions: &TopicPartitionList) {
        for e in partitions.elements() {
            let Ok(topic) = CString::new(e.topic()) else {
                continue;
            };
            // SAFETY: the client outlives this queue (see `new`); librdkafka only reads the
            // NUL-terminated topic name. The partition queue handle is a reference that is
            // released at once: the forwarding holds its own reference to this queue.
            unsafe {
                let partition =
                    rd::rd_kafka_queue_get_partition(self.client, topic.as_ptr(), e.partition());
                if partition.is_null() {
                    tracing::warn!(
                        "no fetch queue for {}-{}: its records come through the consumer queue",
                        e.topic(),
                        e.partition()
                    );
                    continue;
                }
                rd::rd_kafka_queue_forward(partition, self.queue.as_ptr());
                rd::rd_kafka_queue_destroy(partition);
            }
        }
    }

    /// Waits up to `timeout` for the first record, then takes every record that is
    /// already waiting, up to the batch size, into `out`, in the order librdkafka queued
    /// them (per partition, by offset). A record that carries an error instead is handed
    /// over as that error, in its place.
    ///
    /// `rd_kafka_consume_batch_queue` itself waits until the batch is full or its timeout
    /// is up, so a record arriving at a low rate would wait the whole timeout for others.
    /// Hence the waiting call asks for one record only, and the rest of the batch is taken
    /// without waiting.
    pub(super) fn consume(&mut self, timeout: Duration, out: &mut Vec<KafkaResult<Fetched<'c>>>) {
        let all = self.raw.len();
        let mut n = self.take(0, 0..all);
        if n == 0 && !timeout.is_zero() {
            let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
            n = self.take(timeout_ms, 0..1);
            if n == 1 {
                n += self.take(0, 1..all);
            }
        }
        out.extend(self.raw[..n].iter().filter_map(|&ptr| {
            // SAFETY: librdkafka returned these `n` valid messages, each now owned by the
            // caller.
            unsafe { Fetched::from_raw(ptr) }
        }));
    }

    /// One `rd_kafka_consume_batch_queue` call filling the `slots` of `raw`, from their
    /// start; the number of messages it returned.
    fn take(&mut self, timeout_ms: i32, slots: std::ops::Range<usize>) -> usize {
        let Some(room) = self.raw.get_mut(slots) else {
            return 0;
        };
        if room.is_empty() {
            return 0;
        }
        // SAFETY: `room` has space for `room.len()` pointers, which is the size passed; the
        // queue and client are valid (see `new`).
        let n = unsafe {
            rd::rd_kafka_consume_batch_queue(
                self.queue.as_ptr(),
                timeout_ms,
                room.as_mut_ptr(),
                room.len(),
            )
        };
        usize::try_from(n).unwrap_or(0).min(room.len())
    }
}

impl Drop for FetchQueue<'_> {
    fn drop(&mut self) {
        // SAFETY: this handle was created by `rd_kafka_queue_new` and is destroyed once;
        // the queue's records are purged. Partitions still forwarded here hold their own
        // reference and discard what they fetch once the queue is disabled.
        unsafe { rd::rd_kafka_queue_destroy(self.queue.as_ptr()) }
    }
}

/// A record taken from a [`FetchQueue`], read in place in librdkafka's buffer and
/// released when dropped. It borrows the consumer, like rust-rdkafka's `BorrowedMessage`.
pub(crate) struct Fetched<'c> {
    ptr: NonNull<rd::rd_kafka_message_t>,
    /// The topic's name, looked up once: it lives as long as the message holds its topic.
    topic: *const str,
    _consumer: PhantomData<&'c ()>,
}

impl Fetched<'_> {
    /// Wraps a message from `rd_kafka_consume_batch_queue`. A message carrying an error
    /// is released and returned as that error.
    ///
    /// # Safety
    /// `ptr` is null or a message from the batch call that nothing else owns.
    unsafe fn from_raw(ptr: *mut rd::rd_kafka_message_t) -> Option<KafkaResult<Self>> {
        let ptr = NonNull::new(ptr)?;
        let msg = ptr.as_ref();
        if msg.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            let err = match msg.err {
                rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF => {
                    KafkaError::PartitionEOF(msg.partition)
                }
                e => KafkaError::MessageConsumption(RDKafkaErrorCode::from(e)),
            };
            rd::rd_kafka_message_destroy(ptr.as_ptr());
            return Some(Err(err));
        }
        // Kafka topic names are ASCII ([a-zA-Z0-9._-]); anything else is reported, not read.
        let name = CStr::from_ptr(rd::rd_kafka_topic_name(msg.rkt));
        match name.to_str() {
            Ok(topic) => Some(Ok(Fetched {
                ptr,
                topic: topic as *const str,
                _consumer: PhantomData,
            })),
            Err(_) => {
                tracing::error!(
                    "a record of a topic whose name is not UTF-8 ({name:?}), partition {} \
                     offset {}, cannot be processed",
                    msg.partition,
                    msg.offset
                );
                rd::rd_kafka_message_destroy(ptr.as_ptr());
                Some(Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::InvalidTopic,
                )))
            }
        }
    }

    fn raw(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: the message is valid until dropped.
        unsafe { self.ptr.as_ref() }
    }
}

fn slice<'a>(ptr: *const std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    // SAFETY (callers): `ptr` points to `len` bytes that live as long as the message.
    (!ptr.is_null()).then(|| unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
}

impl Message for Fetched<'_> {
    type Headers = BorrowedHeaders;

    fn key(&self) -> Option<&[u8]> {
        let m = self.raw();
        slice(m.key, m.key_len)
    }

    fn payload(&self) -> Option<&[u8]> {
        let m = self.raw();
        slice(m.payload, m.len)
    }

    unsafe fn payload_mut(&mut self) -> Option<&mut [u8]> {
        let m = self.ptr.as_mut();
        (!m.payload.is_null()).then(|| std::slice::from_raw_parts_mut(m.payload as *mut u8, m.len))
    }

    fn topic(&self) -> &str {
        // SAFETY: set from the message's topic, which it keeps alive until dropped.
        unsafe { &*self.topic }
    }

    fn partition(&self) -> i32 {
        self.raw().partition
    }

    fn offset(&self) -> i64 {
        self.raw().offset
    }

    fn timestamp(&self) -> Timestamp {
        use rd::rd_kafka_timestamp_type_t as T;
        let mut kind = T::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: the message is valid; librdkafka only writes `kind`.
        let ts = unsafe { rd::rd_kafka_message_timestamp(self.ptr.as_ptr(), &mut kind) };
        match kind {
            _ if ts == -1 => Timestamp::NotAvailable,
            T::RD_KAFKA_TIMESTAMP_CREATE_TIME => Timestamp::CreateTime(ts),
            T::RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME => Timestamp::LogAppendTime(ts),
            T::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE => Timestamp::NotAvailable,
        }
    }

    fn headers(&self) -> Option<&BorrowedHeaders> {
        if !may_have_headers(self.ptr) {
            return None;
        }
        let mut headers = std::ptr::null_mut();
        // SAFETY: the message is valid; librdkafka points `headers` at the message's own
        // header list, which lives as long as the message. `BorrowedHeaders` is read
        // through that pointer, as rust-rdkafka itself does.
        unsafe {
            let err = rd::rd_kafka_message_headers(self.ptr.as_ptr(), &mut headers);
            (err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && !headers.is_null())
                .then(|| &*(headers as *const BorrowedHeaders))
        }
    }
}

#[cfg(kstreams_header_probe)]
extern "C" {
    /// `native/message_headers.c`: 0 only for a consumed record with no headers.
    fn kstreams_rd_message_may_have_headers(
        rkmessage: *const rd::rd_kafka_message_t,
    ) -> std::ffi::c_int;
}

/// Whether the record may carry headers; false only when it surely has none, which
/// spares librdkafka parsing an empty list (see `native/message_headers.c`).
#[cfg(kstreams_header_probe)]
fn may_have_headers(message: NonNull<rd::rd_kafka_message_t>) -> bool {
    // SAFETY: the message is a valid consumed message (see `Fetched::from_raw`); the
    // probe only reads it, through the struct layout of the librdkafka linked here.
    unsafe { kstreams_rd_message_may_have_headers(message.as_ptr()) != 0 }
}

/// Without the probe, every record may carry headers.
#[cfg(not(kstreams_header_probe))]
fn may_have_headers(_: NonNull<rd::rd_kafka_message_t>) -> bool {
    true
}

impl Drop for Fetched<'_> {
    fn drop(&mut self) {
        // SAFETY: the message came from the batch call, is owned here, and is destroyed
        // once.
        unsafe { rd::rd_kafka_message_destroy(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
mod tests;
