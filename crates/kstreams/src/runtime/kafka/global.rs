//! The global stream thread: reads every partition of the global topics into the global
//! stores, in full, before the stream threads start (so a join never sees a half-loaded
//! table), then keeps applying new records until shutdown.

use super::{Shared, StreamsConfig};
use crate::error::{Result, StreamsError};
use crate::runtime::{InputRecord, TaskId};
use crate::state::StoreInit;
use crate::topology::{GlobalStores, Topology};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pseudo task that owns global stores in the persistent database.
pub(crate) const GLOBAL_TASK: TaskId = TaskId {
    subtopology: u32::MAX,
    partition: 0,
};

fn kafka(context: String) -> impl FnOnce(rdkafka::error::KafkaError) -> StreamsError {
    move |source| StreamsError::Kafka {
        context,
        source: source.into(),
    }
}

fn apply(stores: &GlobalStores, m: &rdkafka::message::BorrowedMessage<'_>) -> Result<()> {
    stores.apply(&InputRecord {
        topic: m.topic(),
        partition: m.partition() as u32,
        offset: m.offset(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        key: m.key(),
        value: m.payload(),
        headers: crate::processor::Headers::new(),
    })?;
    Ok(())
}

/// Opens the global stores, wiping persistent ones (they have no checkpoint: the topic is
/// read in full on every start), and loads every global topic to its end.
pub(crate) fn bootstrap(
    topology: &Topology,
    config: &StreamsConfig,
    partitions: &super::FastMap<String, u32>,
    database: Option<&Arc<crate::state::FjallDatabase>>,
) -> Result<(Arc<GlobalStores>, BaseConsumer)> {
    if let Some(db) = database {
        for g in &topology.globals {
            if g.store.supplier.persistent() {
                db.wipe_store(GLOBAL_TASK, &g.store.name)?;
            }
        }
    }
    let stores = Arc::new(topology.open_global_stores(
        &StoreInit {
            application_id: &config.application_id,
            task_id: GLOBAL_TASK,
            task_dir: None,
            database,
            cache_budget: None,
        },
        config.deserialization_handler.clone(),
    )?);
    let consumer: BaseConsumer = super::clients::global_consumer_config(config)
        .create()
        .map_err(kafka("creating the global consumer".into()))?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for topic in topology.global_topics() {
        let n = *partitions
            .get(&topic)
            .ok_or_else(|| StreamsError::MissingSourceTopic(topic.clone()))?;
        for p in 0..n as i32 {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)
                .map_err(kafka(format!("assigning {topic}-{p}")))?;
            let (low, high) =
                super::restore::watermarks(&consumer, &topic, p, config.startup_timeout)?;
            // A partition that retention emptied has low == high > 0: nothing to load.
            if high > low {
                ends.insert((topic.clone(), p), high);
            }
        }
    }
    consumer
        .assign(&tpl)
        .map_err(kafka("assigning global topics".into()))?;
    let started = Instant::now();
    let mut loaded = 0u64;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                apply(&stores, &m)?;
                loaded += 1;
                last_progress = Instant::now();
                let key = (m.topic().to_string(), m.partition());
                if ends.get(&key).is_some_and(|&high| m.offset() + 1 >= high) {
                    ends.remove(&key);
                }
            }
            Some(Err(e)) => tracing::warn!("loading global topics: {e}"),
            None => {
                // A topic written by an exactly-once producer ends in a commit marker, one
                // offset past its last record: the consumer's position passes it, no
                // record reaches it.
                if let Ok(positions) = consumer.position() {
                    let before = ends.len();
                    ends.retain(|(topic, p), high| {
                        !matches!(
                            positions.find_partition(topic, *p).map(|e| e.offset()),
                            Some(Offset::Offset(o)) if o >= *high
                        )
                    });
                    if ends.len() < before {
                        last_progress = Instant::now();
                    }
                }
                if !ends.is_empty() && last_progress.elapsed() > config.startup_timeout {
                    return Err(StreamsError::InvalidState(format!(
                        "loading global topics stalled with {ends:?} left: no progress for {:?}",
                        config.startup_timeout
                    )));
                }
            }
        }
    }
    stores.flush()?;
    tracing::info!(
        "loaded global stores from {:?}: {loaded} records in {:.2} s",
        topology.global_topics(),
        started.elapsed().as_secs_f64()
    );
    Ok((stores, consumer))
}

/// Keeps the global stores up to date until shutdown; a failure, a panic included, goes to
/// the uncaught-exception handler and stops the client, as a failed global thread does in
/// Kafka Streams (there is no replacing it).
pub(crate) fn spawn(
    stores: Arc<GlobalStores>,
    consumer: BaseConsumer,
    shared: Arc<Shared>,
    app: &str,
) -> Result<std::thread::JoinHandle<()>> {
    let name = format!("{app}-GlobalStreamThread");
    let thread_name = name.clone();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let result = super::catch_thread_panic(&thread_name, || {
                while shared.is_running() {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(m)) => apply(&stores, &m)?,
                        Some(Err(e)) => tracing::warn!("global consumer: {e}"),
                        None => {}
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                tracing::error!("global stream thread failed: {e}");
                super::global_thread_failed(&shared, &e);
                return;
            }
            if let Err(e) = stores.flush() {
                tracing::warn!("flushing global stores: {e}");
            }
        })
        .map_err(|e| StreamsError::InvalidState(format!("cannot spawn the global thread: {e}")))
}
