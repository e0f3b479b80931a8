//! Restoring a task's stores from their changelog topics before it processes anything.

use super::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::runtime::Task;
use rdkafka::config::ClientConfig;
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
    let mut c = ClientConfig::new();
    // A group id is required for assign/unassign; this consumer never joins the group.
    c.set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", format!("{}-restore", config.application_id))
        .set(
            "client.id",
            format!(
                "{}-StreamThread-{thread}-restore-consumer",
                config.application_id
            ),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in &config.client_config {
        c.set(k, v);
    }
    c.create()
        .map_err(kafka("creating the restore consumer".into()))
}

/// Replays every changelog partition of `task` from its start offset (the checkpoint, or
/// the beginning when `starts` has none) to its end offset at the time of the call,
/// logging progress. Returns the next offset of each changelog topic, for checkpoints.
pub(crate) fn restore_task(
    consumer: &BaseConsumer,
    task: &mut Task,
    starts: &HashMap<String, i64>,
    timeout: Duration,
    stats: &mut (u64, Duration),
) -> Result<HashMap<String, i64>> {
    let partition = task.id().partition as i32;
    let mut positions = HashMap::new();
    for (store, topic) in task.changelogs() {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, timeout)
            .map_err(kafka(format!("reading end offsets of {topic}-{partition}")))?;
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
        let mut applied = 0u64;
        let mut position = start;
        while position < high {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    position = m.offset() + 1;
                    if let Some(key) = m.key() {
                        task.restore(&store, key, m.payload())?;
                        applied += 1;
                    }
                }
                Some(Err(e)) => tracing::warn!("restoring {topic}-{partition}: {e}"),
                None if started.elapsed() > timeout => {
                    return Err(StreamsError::InvalidState(format!(
                        "restoring {topic}-{partition} stalled at offset {position} of {high}"
                    )))
                }
                None => {}
            }
            if position >= high {
                // Also apply what the client already holds past the end offset read at the
                // start: newer writes are still the latest state, and a broker that reports
                // the end of a partition at its last batch's start (Tansu 0.6) would
                // otherwise cut the last batch short.
                while let Some(Ok(m)) = consumer.poll(Duration::ZERO) {
                    position = m.offset() + 1;
                    if let Some(key) = m.key() {
                        task.restore(&store, key, m.payload())?;
                        applied += 1;
                    }
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
