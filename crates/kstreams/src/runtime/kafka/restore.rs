//! Restoring a task's stores from their changelog topics before it processes anything.

use super::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::runtime::Task;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const REPORT_EVERY: Duration = Duration::from_secs(5);

fn kafka(context: String) -> impl FnOnce(rdkafka::error::KafkaError) -> StreamsError {
    move |source| StreamsError::Kafka { context, source }
}

/// A consumer outside the group, assigned to changelog partitions by hand.
pub(crate) fn restore_consumer(config: &StreamsConfig, thread: usize) -> Result<BaseConsumer> {
    super::clients::restore_consumer_config(config, thread)
        .create()
        .map_err(kafka("creating the restore consumer".into()))
}

/// The start and end offsets of `topic`-`partition`, asking again while the cluster answers
/// with errors (a leader moving after a broker failure answers `NOT_LEADER` until the
/// client's metadata catches up) for at most `timeout`.
pub(crate) fn watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64)> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_watermarks(topic, partition, left.max(Duration::from_millis(100))) {
            Ok(w) => return Ok(w),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!("reading end offsets of {topic}-{partition}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(StreamsError::Kafka {
                    context: format!("reading end offsets of {topic}-{partition}"),
                    source: e,
                })
            }
        }
    }
}

/// The consumer's position in `topic`-`partition`: the next offset it will fetch. Unlike the
/// offset of the last record polled, it moves past transaction markers and aborted records,
/// which librdkafka serves inside `poll` without returning them.
pub(crate) fn position_of(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    let tpl = consumer.position().ok()?;
    match tpl.find_partition(topic, partition)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// Replays every changelog partition of `task` from its start offset (the checkpoint, or
/// the beginning when `starts` has none) to the end of the partition, logging progress.
/// Returns the next offset of each changelog topic, for checkpoints.
///
/// The end is reached when the consumer's position passes the end offset read at the start.
/// A changelog written under exactly-once ends in a commit marker, one offset past its
/// last record, which the position passes and a record never reaches. Restoration fails
/// only when it makes no progress for `stall_timeout`, however long the whole takes.
pub(crate) fn restore_task(
    consumer: &BaseConsumer,
    task: &mut Task,
    starts: &HashMap<String, i64>,
    stall_timeout: Duration,
    stats: &mut (u64, Duration),
) -> Result<HashMap<String, i64>> {
    let partition = task.id().partition as i32;
    let mut positions = HashMap::new();
    for (store, topic) in task.changelogs() {
        let (low, high) = watermarks(consumer, &topic, partition, stall_timeout)?;
        let start = starts.get(&topic).copied().unwrap_or(low).max(low);
        if high <= start {
            tracing::info!(
                "store {store} of task {} is up to date at offset {start}",
                task.id()
            );
            positions.insert(topic, start);
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, partition, Offset::Offset(start))
            .map_err(kafka(format!("assigning {topic}-{partition}")))?;
        consumer
            .assign(&tpl)
            .map_err(kafka(format!("assigning {topic}-{partition}")))?;
        let started = Instant::now();
        let mut last_report = Instant::now();
        let mut last_progress = Instant::now();
        let mut applied = 0u64;
        let mut position = start;
        while position < high {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => {
                    position = m.offset() + 1;
                    last_progress = Instant::now();
                    if let Some(key) = m.key() {
                        let ts = m.timestamp().to_millis().unwrap_or(-1);
                        task.restore(&store, key, m.payload(), ts)?;
                        applied += 1;
                    }
                }
                Some(Err(e)) => tracing::warn!("restoring {topic}-{partition}: {e}"),
                None => {
                    // Markers and aborted records move the position without a record.
                    if let Some(p) = position_of(consumer, &topic, partition) {
                        if p > position {
                            position = p;
                            last_progress = Instant::now();
                        }
                    }
                    if position < high && last_progress.elapsed() > stall_timeout {
                        return Err(StreamsError::InvalidState(format!(
                            "restoring {topic}-{partition} stalled at offset {position} of {high}: \
                             no progress for {stall_timeout:?}"
                        )));
                    }
                }
            }
            if position >= high {
                // Also apply what the client already holds past the end offset read at the
                // start: newer writes are still the latest state, and a broker that reports
                // the end of a partition at its last batch's start (Tansu 0.6) would
                // otherwise cut the last batch short.
                while let Some(Ok(m)) = consumer.poll(Duration::ZERO) {
                    position = m.offset() + 1;
                    if let Some(key) = m.key() {
                        let ts = m.timestamp().to_millis().unwrap_or(-1);
                        task.restore(&store, key, m.payload(), ts)?;
                        applied += 1;
                    }
                }
                if let Some(p) = position_of(consumer, &topic, partition) {
                    position = position.max(p);
                }
            }
            if last_report.elapsed() >= REPORT_EVERY {
                tracing::info!(
                    "restoring store {store} of task {}: {} of {} records",
                    task.id(),
                    position - start,
                    high - start
                );
                last_report = Instant::now();
            }
        }
        stats.0 += applied;
        stats.1 += started.elapsed();
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            "restored store {store} of task {} from {topic}: {applied} records from offset {start} in {secs:.2} s",
            task.id()
        );
        positions.insert(topic, position);
    }
    consumer
        .unassign()
        .map_err(kafka("releasing changelog partitions".into()))?;
    Ok(positions)
}
