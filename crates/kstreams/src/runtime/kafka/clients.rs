//! librdkafka clients' configuration: every client of an instance, its defaults under the
//! user's settings. A stream thread's producer at work is in `thread/producer.rs`.

use super::StreamsConfig;
use rdkafka::config::ClientConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every client of an instance is configured here and only here, so that the user's
/// settings (security, compression, timeouts) reach every one of them: the admin client,
/// the stream threads' consumers and producers, the restore consumers and the global
/// consumer. `client.id` names the client like Kafka Streams does; the user's
/// `client_config` goes on top of kstreams' defaults.
fn client(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    base_client(
        &config.bootstrap_servers,
        &format!("{}-{client_id}", config.application_id),
        &config.client_config,
    )
}

/// The one place a librdkafka configuration starts from: bootstrap servers, `client.id`,
/// then the user's settings on top (so they may override the id too).
fn base_client(
    bootstrap_servers: &str,
    client_id: &str,
    client_config: &BTreeMap<String, String>,
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap_servers)
        .set("client.id", client_id);
    for (k, v) in client_config {
        c.set(k, v);
    }
    c
}

/// Settings that only consumers take: a producer or admin client would warn about them.
const CONSUMER_ONLY: [&str; 4] = [
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "group.instance.id",
];

fn without_consumer_settings(mut c: ClientConfig) -> ClientConfig {
    for k in CONSUMER_ONLY {
        c.remove(k);
    }
    c
}

pub(crate) fn admin_config(config: &StreamsConfig) -> ClientConfig {
    without_consumer_settings(client(config, "admin"))
}

/// The admin client of a tool that has no application id (the [`Admin`](super::Admin)
/// facade built from bootstrap servers and client settings): `client.id` is
/// `kstreams-admin` unless the settings name another.
pub(crate) fn standalone_admin_config(
    bootstrap_servers: &str,
    client_config: &BTreeMap<String, String>,
) -> ClientConfig {
    without_consumer_settings(base_client(
        bootstrap_servers,
        "kstreams-admin",
        client_config,
    ))
}

/// librdkafka's prefetch queue of a consumer, KiB, unless the user sets
/// `queued.max.messages.kbytes`. librdkafka's default, 64 MiB, fills whenever a consumer
/// is behind (a catch-up, a replay, a restore) and then is most of a lagging instance's
/// memory; tasks take records from it a batch at a time, so a smaller queue only costs
/// fetches that are smaller and more frequent.
pub(crate) const PREFETCH_KIB: u32 = 16 * 1024;

/// How long librdkafka waits, ms, before it fetches again for a partition once the prefetch
/// queue is full (`fetch.queue.backoff.ms`). librdkafka's default of 1 s suits its own 64 MiB
/// queue; with the smaller [`PREFETCH_KIB`], a thread that is behind empties the queue in
/// well under a second and then sat idle until the backoff expired.
pub(crate) const FETCH_QUEUE_BACKOFF_MS: u32 = 10;

/// The most a consumer's fetch response brings, bytes (`fetch.max.bytes`; librdkafka's
/// default is 50 MiB), unless the user sets it or a larger `message.max.bytes`.
///
/// librdkafka keeps about 150 bytes of bookkeeping per fetched message beside its payload,
/// and the prefetch limits are checked only before a fetch is sent: one response of 16
/// partitions' 1 MiB each arrives whole. For the small records of a changelog (30 bytes) that
/// was half a million messages at once, 145 MiB of bookkeeping while a store restored
/// within a 64 MiB budget. With this and [`PREFETCH_MIN_MESSAGES`], a restore of 1M records
/// peaked 40 MiB above the process before it, against 176 MiB, at the same speed.
pub(crate) const FETCH_MAX_BYTES: u32 = 2 << 20;

/// Messages a consumer keeps prefetched before it stops fetching (`queued.min.messages`;
/// librdkafka's default is 100,000): the count, not the bytes, bounds the bookkeeping of
/// small records. Tasks take them a batch at a time, and a fetch refills the queue long
/// before they are through 10,000.
pub(crate) const PREFETCH_MIN_MESSAGES: u32 = 10_000;

/// kstreams' consumer defaults, under the user's settings.
fn consumer_defaults(c: &mut ClientConfig) {
    if c.get("queued.max.messages.kbytes").is_none() {
        c.set("queued.max.messages.kbytes", PREFETCH_KIB.to_string());
    }
    if c.get("queued.min.messages").is_none() {
        c.set("queued.min.messages", PREFETCH_MIN_MESSAGES.to_string());
    }
    if c.get("fetch.max.bytes").is_none() {
        // librdkafka refuses a fetch.max.bytes below message.max.bytes.
        let largest_message = c
            .get("message.max.bytes")
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0);
        c.set(
            "fetch.max.bytes",
            FETCH_MAX_BYTES.max(largest_message).to_string(),
        );
    }
    if c.get("fetch.queue.backoff.ms").is_none() {
        c.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_string());
    }
}

/// A consumer outside the group, assigned partitions by hand (restore and global
/// consumers). A group id is required for assign/unassign; it never joins the group.
fn assigning_consumer(config: &StreamsConfig, client_id: &str, group: &str) -> ClientConfig {
    let mut c = client(config, client_id);
    c.set("group.id", format!("{}-{group}", config.application_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in &config.consumer_config {
        c.set(k, v);
    }
    consumer_defaults(&mut c);
    c
}

/// The restore consumer of stream thread `thread`. It reads changelogs `read_committed`
/// (librdkafka's default), so under exactly-once only committed state is restored.
pub(crate) fn restore_consumer_config(config: &StreamsConfig, thread: usize) -> ClientConfig {
    assigning_consumer(
        config,
        &format!("StreamThread-{thread}-restore-consumer"),
        "restore",
    )
}

/// The consumer of the status topic (read from the beginning, outside the group).
pub(crate) fn status_consumer_config(config: &StreamsConfig) -> ClientConfig {
    let mut c = assigning_consumer(config, "status-consumer", "status");
    // Statuses are small and few: no need for a large prefetch.
    c.set("queued.max.messages.kbytes", "1024");
    c
}

/// A producer beside the stream threads' (the status topic's, the log shipper's): plain,
/// no transactions, the user's producer settings.
pub(crate) fn side_producer_config(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    let mut c = without_consumer_settings(client(config, client_id));
    for (k, v) in &config.producer_config {
        c.set(k, v);
    }
    c
}

/// A consumer of a tool that has no application id (the status watcher), assigning
/// partitions by hand, never committing.
pub(crate) fn standalone_consumer_config(
    bootstrap_servers: &str,
    client_config: &BTreeMap<String, String>,
    client_id: &str,
) -> ClientConfig {
    let mut c = base_client(bootstrap_servers, client_id, client_config);
    c.set("group.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("queued.max.messages.kbytes", "1024");
    c
}

/// The global thread's consumer.
pub(crate) fn global_consumer_config(config: &StreamsConfig) -> ClientConfig {
    assigning_consumer(config, "GlobalStreamThread-global-consumer", "global")
}

pub(crate) fn consumer_config(config: &StreamsConfig, thread: usize) -> ClientConfig {
    let mut c = client(config, &format!("StreamThread-{thread}-consumer"));
    c.set("group.id", &config.application_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // Range over identical subscriptions keeps co-partitioned topics together:
        // partition p of every topic of a subtopology goes to the same member.
        .set("partition.assignment.strategy", "range")
        .set(
            "auto.offset.reset",
            match config.auto_offset_reset {
                super::AutoOffsetReset::Earliest => "earliest",
                super::AutoOffsetReset::Latest => "latest",
            },
        );
    if config.exactly_once() {
        // Only committed transactions: aborted outputs of upstream exactly-once apps and
        // of this one's own aborted attempts are never read.
        c.set("isolation.level", "read_committed");
    }
    for (k, v) in &config.consumer_config {
        c.set(k, v);
    }
    consumer_defaults(&mut c);
    c
}

/// The producer of stream thread `thread`. Under exactly-once it is transactional with
/// `transactional.id` = `<application.id>-<process id>-<thread>`: the process id is kept in
/// the state directory, so a restarted instance fences the zombie it replaces, while other
/// instances (other state directories) never fence each other.
pub(crate) fn producer_config(
    config: &StreamsConfig,
    thread: usize,
    transactional_id: Option<&str>,
    reports: DeliveryReports,
) -> ClientConfig {
    let mut c =
        without_consumer_settings(client(config, &format!("StreamThread-{thread}-producer")));
    for (k, v) in &config.producer_config {
        c.set(k, v);
    }
    // kstreams' producer defaults, under the user's settings.
    let mut default = |k: &str, v: &str| {
        if c.get(k).is_none() {
            c.set(k, v);
        }
    };
    default("acks", "all");
    // Java's default partitioner for keyed records; random for null keys.
    default("partitioner", "murmur2_random");
    // Kafka Streams' producer default. Records linger only while the thread is behind its
    // input: once it has caught up, the loop sends them at once (`thread/linger.rs`).
    default("linger.ms", "100");
    // A partition's records go once they are this many, lingering or not: a thread behind
    // its input, writing to up to ten partitions, sends full batches before
    // `queue.buffering.max.messages` fills, rather than wait for room.
    default("batch.num.messages", &PRODUCER_BATCH_MESSAGES.to_string());
    // Kafka Streams' producers hold at most `buffer.memory` = 32 MiB of records not yet
    // sent, then make the thread wait. librdkafka's default is 1 GiB: a thread that
    // outruns its broker would buffer that much.
    default(
        "queue.buffering.max.kbytes",
        &PRODUCER_BUFFER_KBYTES.to_string(),
    );
    // That bound counts payload bytes only, not librdkafka's bookkeeping per record, so
    // small records are bounded by their number too: see PRODUCER_BUFFER_MESSAGES.
    default(
        "queue.buffering.max.messages",
        &PRODUCER_BUFFER_MESSAGES.to_string(),
    );
    if reports == DeliveryReports::Failures {
        default("delivery.report.only.error", "true");
    }
    if let Some(id) = transactional_id {
        default("enable.idempotence", "true");
        // Kafka Streams' exactly-once default: a zombie's transaction is aborted by the
        // broker within 10 s.
        default(
            "transaction.timeout.ms",
            &TRANSACTION_TIMEOUT_MS.to_string(),
        );
        c.set("transactional.id", id);
    }
    // Checkpoints take their offsets from the success reports: without them a persistent
    // store's checkpoint would never move, and every restart would restore it from further
    // back.
    if reports == DeliveryReports::All && c.get("delivery.report.only.error") == Some("true") {
        tracing::warn!(
            "delivery.report.only.error=true ignored: this topology's checkpoints need every \
             delivery report"
        );
        c.set("delivery.report.only.error", "false");
    }
    // `delivery.timeout.ms` is librdkafka's alias of `message.timeout.ms`. With both set
    // (one for all clients, one for producers), which one librdkafka applied would depend
    // on the order of rust-rdkafka's hash map, so one name is kept, with the longer time.
    if let Some(alias) = c.get("delivery.timeout.ms").map(String::from) {
        c.remove("delivery.timeout.ms");
        let ms = |v: &str| v.parse::<u64>().unwrap_or(0);
        let keep = match c.get("message.timeout.ms") {
            Some(m) if ms(m) >= ms(&alias) => m.to_string(),
            _ => alias,
        };
        c.set("message.timeout.ms", keep);
    }
    // Kafka Streams' producers give a record `delivery.timeout.ms` = 120 s, well within the
    // commit's wait for the flush, so that a stalled broker fails the records, each named
    // by the production handler, rather than the flush as a whole. librdkafka's default is
    // 300 s. A transactional producer's records time out with its transaction instead
    // (librdkafka refuses a message timeout above `transaction.timeout.ms`).
    if transactional_id.is_none() && c.get("message.timeout.ms").is_none() {
        c.set("message.timeout.ms", DELIVERY_TIMEOUT_MS.to_string());
    }
    c
}

/// Which delivery reports a stream thread's producer hands back to the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryReports {
    /// Every record's: the changelog offsets acknowledged go into the checkpoints of
    /// persistent stores.
    All,
    /// Only failed records' (`delivery.report.only.error`), when no store is checkpointed:
    /// a success then tells the thread nothing, and librdkafka frees the record as soon as
    /// the broker acknowledges it instead of queueing a report for the thread to serve (a
    /// few percent of a stateless thread's CPU).
    Failures,
}

impl DeliveryReports {
    /// What the stream threads of `topology` need: every report when a store is
    /// checkpointed (persistent and logged), else failures only.
    pub(crate) fn needed_by(topology: &crate::topology::Topology) -> Self {
        let checkpointed = (0..topology.subtopology_count())
            .flat_map(|sub| topology.stores_of(sub))
            .any(|s| s.persistent && s.logged);
        if checkpointed {
            DeliveryReports::All
        } else {
            DeliveryReports::Failures
        }
    }
}

/// `queue.buffering.max.kbytes` unless the user sets another: Kafka Streams' (the Java
/// producer's) `buffer.memory`, 32 MiB.
pub(crate) const PRODUCER_BUFFER_KBYTES: u32 = 32 * 1024;

/// `queue.buffering.max.messages` unless the user sets another: how many records a stream
/// thread's producer holds, queued or awaiting their acks, before the thread waits.
///
/// librdkafka's default, 100,000, is the bound that binds for small records. Each record
/// costs its payload plus about 150 bytes of librdkafka's bookkeeping, and
/// `queue.buffering.max.kbytes` counts only the payload. heaptrack of the W1 peer benchmark
/// (~198-byte records, the broker on the same cores) found that queue full, at 33.5 MiB of a
/// 50 MiB heap. 10,000 is still some 30 ms of a thread's output at 300,000 records/s:
/// interleaved W1 rounds (with `linger.ms` 5 then) kept their throughput and CPU per record
/// and peaked at 31–33 MiB, against 34–64 MiB with librdkafka's default
/// (`docs/benchmarks.md`). A thread behind its input that fills it before its `linger.ms`
/// is up sends the records at once (`thread/linger.rs`).
pub(crate) const PRODUCER_BUFFER_MESSAGES: u32 = 10_000;

/// `batch.num.messages` unless the user sets another: the most records of one partition in
/// one produce request, and how many make a partition's batch go before `linger.ms` is up.
/// librdkafka's default is 10,000, the whole of [`PRODUCER_BUFFER_MESSAGES`].
pub(crate) const PRODUCER_BATCH_MESSAGES: u32 = 1_000;

/// `message.timeout.ms` of a stream thread's producer at least once, unless the user sets
/// it or `delivery.timeout.ms`: Kafka Streams' `delivery.timeout.ms`.
pub(crate) const DELIVERY_TIMEOUT_MS: u64 = 120_000;

/// How long a commit waits for the producer's flush, from the final settings of the thread's
/// producer and consumer: until every record is delivered or has timed out on its own, with
/// a margin, so that a failure names the records' topics. Never longer than the consumer's
/// `max.poll.interval.ms` less a margin, which a longer wait would make the thread miss
/// and leave the group (also the wait when records never time out, `message.timeout.ms` 0).
pub(crate) fn commit_flush_timeout(producer: &ClientConfig, consumer: &ClientConfig) -> Duration {
    const MARGIN: Duration = Duration::from_secs(10);
    let ms = |c: &ClientConfig, k: &str| c.get(k).and_then(|v| v.parse::<u64>().ok());
    let poll_interval = ms(consumer, "max.poll.interval.ms").unwrap_or(300_000);
    let bound = Duration::from_millis(poll_interval)
        .saturating_sub(MARGIN)
        .max(Duration::from_secs(1));
    match ms(producer, "message.timeout.ms").unwrap_or(DELIVERY_TIMEOUT_MS) {
        0 => bound,
        delivery => (Duration::from_millis(delivery) + MARGIN).min(bound),
    }
}

/// `transaction.timeout.ms` under exactly-once unless the user sets another.
pub(crate) const TRANSACTION_TIMEOUT_MS: u64 = 10_000;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    /// Success reports are asked for only where a checkpoint needs their offsets: a
    /// persistent store with a changelog.
    fn only_checkpointed_stores_need_every_delivery_report() {
        let needed = |materialized: Option<Materialized<String, String>>| {
            let builder = StreamsBuilder::new();
            builder
                .stream("in", Consumed::with(StringSerde, StringSerde))
                .to("out", Produced::with(StringSerde, StringSerde));
            if let Some(m) = materialized {
                builder.table("table-in", Consumed::with(StringSerde, StringSerde), m);
            }
            DeliveryReports::needed_by(&builder.build().expect("topology"))
        };
        assert_eq!(needed(None), DeliveryReports::Failures);
        assert_eq!(
            needed(Some(Materialized::named("persistent"))),
            DeliveryReports::All
        );
        assert_eq!(
            needed(Some(Materialized::named("memory").in_memory())),
            DeliveryReports::Failures
        );
        assert_eq!(
            needed(Some(
                Materialized::named("unlogged").with_logging_disabled()
            )),
            DeliveryReports::Failures
        );
        let config = StreamsConfig::new("app", "broker:9092");
        let only_errors = |r| {
            producer_config(&config, 0, None, r)
                .get("delivery.report.only.error")
                .map(String::from)
        };
        assert_eq!(
            only_errors(DeliveryReports::Failures).as_deref(),
            Some("true")
        );
        assert_eq!(only_errors(DeliveryReports::All), None);
        let mine = config.producer_config("delivery.report.only.error", "true");
        let forced = |r| {
            producer_config(&mine, 0, None, r)
                .get("delivery.report.only.error")
                .map(String::from)
        };
        assert_eq!(forced(DeliveryReports::All).as_deref(), Some("false"));
        assert_eq!(forced(DeliveryReports::Failures).as_deref(), Some("true"));
    }

    #[test]
    fn consumers_get_a_bounded_prefetch_queue_and_producers_their_own_settings() {
        let config = StreamsConfig::new("app", "broker:9092")
            .producer_config("compression.type", "lz4")
            .producer_config("linger.ms", "25");
        let prefetch = |c: &ClientConfig| c.get("queued.max.messages.kbytes").map(String::from);
        let kib = Some(PREFETCH_KIB.to_string());
        assert_eq!(prefetch(&consumer_config(&config, 0)), kib);
        assert_eq!(prefetch(&restore_consumer_config(&config, 0)), kib);
        assert_eq!(prefetch(&global_consumer_config(&config)), kib);
        // With a refetch soon after that queue drains, and a bound on the messages fetched.
        let backoff = Some(FETCH_QUEUE_BACKOFF_MS.to_string());
        for c in [
            consumer_config(&config, 0),
            restore_consumer_config(&config, 0),
            global_consumer_config(&config),
        ] {
            assert_eq!(c.get("fetch.queue.backoff.ms").map(String::from), backoff);
            assert_eq!(c.get("queued.min.messages"), Some("10000"));
            assert_eq!(c.get("fetch.max.bytes"), Some("2097152"));
        }
        // A larger message.max.bytes raises fetch.max.bytes with it, as librdkafka requires.
        let large = config
            .clone()
            .consumer_config("message.max.bytes", "5000000");
        assert_eq!(
            consumer_config(&large, 0).get("fetch.max.bytes"),
            Some("5000000")
        );
        // The user's setting wins.
        let mine = config
            .clone()
            .consumer_config("queued.max.messages.kbytes", "1024");
        assert_eq!(
            prefetch(&consumer_config(&mine, 0)).as_deref(),
            Some("1024")
        );
        // Producer settings reach producers only, over kstreams' defaults.
        let producer = producer_config(&config, 0, None, DeliveryReports::All);
        assert_eq!(producer.get("compression.type"), Some("lz4"));
        assert_eq!(producer.get("linger.ms"), Some("25"));
        assert_eq!(producer.get("queued.max.messages.kbytes"), None);
        // Otherwise Kafka Streams' linger, and batches that go before the send buffer fills.
        let defaults = producer_config(
            &StreamsConfig::new("app", "broker:9092"),
            0,
            None,
            DeliveryReports::All,
        );
        assert_eq!(defaults.get("linger.ms"), Some("100"));
        assert_eq!(defaults.get("batch.num.messages"), Some("1000"));
        assert_eq!(consumer_config(&config, 0).get("compression.type"), None);
        // A bounded send buffer, as Kafka Streams' buffer.memory; the user's wins.
        assert_eq!(producer.get("queue.buffering.max.kbytes"), Some("32768"));
        let mine = config
            .clone()
            .producer_config("queue.buffering.max.kbytes", "4096");
        assert_eq!(
            producer_config(&mine, 0, None, DeliveryReports::All).get("queue.buffering.max.kbytes"),
            Some("4096")
        );
        // ... and bounded in records, whose bookkeeping librdkafka's byte bound leaves out.
        assert_eq!(producer.get("queue.buffering.max.messages"), Some("10000"));
        let mine = config
            .clone()
            .producer_config("queue.buffering.max.messages", "500000");
        assert_eq!(
            producer_config(&mine, 0, None, DeliveryReports::All)
                .get("queue.buffering.max.messages"),
            Some("500000")
        );
    }

    #[test]
    fn records_time_out_before_the_commit_stops_waiting_for_them() {
        let config = StreamsConfig::new("app", "localhost:9092");
        let flush = |c: &StreamsConfig| {
            commit_flush_timeout(
                &producer_config(c, 0, None, DeliveryReports::All),
                &consumer_config(c, 0),
            )
        };
        // Kafka Streams' delivery.timeout.ms at least once, and the commit waits longer.
        let producer = producer_config(&config, 0, None, DeliveryReports::All);
        assert_eq!(producer.get("message.timeout.ms"), Some("120000"));
        assert_eq!(flush(&config), Duration::from_secs(130));
        // Under exactly-once the transaction's timeout bounds a record's: librdkafka
        // refuses a message timeout above it, so none is set.
        let transactional = producer_config(&config, 0, Some("app-1-0"), DeliveryReports::All);
        assert_eq!(transactional.get("message.timeout.ms"), None);
        assert_eq!(transactional.get("transaction.timeout.ms"), Some("10000"));
        // The user's timeout, under either name and for producers or for every client, is
        // the one set, under one name, and the commit waits for it.
        let settings: [fn(StreamsConfig, &str) -> StreamsConfig; 2] = [
            |c, name| c.producer_config(name, "200000"),
            |c, name| c.client_config(name, "200000"),
        ];
        for set in settings {
            for name in ["message.timeout.ms", "delivery.timeout.ms"] {
                let mine = set(config.clone(), name);
                let producer = producer_config(&mine, 0, None, DeliveryReports::All);
                assert_eq!(producer.get("message.timeout.ms"), Some("200000"), "{name}");
                assert_eq!(producer.get("delivery.timeout.ms"), None, "{name}");
                assert_eq!(flush(&mine), Duration::from_secs(210), "{name}");
            }
        }
        // Both names: the longer time, whichever name has it.
        let both = config
            .clone()
            .client_config("message.timeout.ms", "150000")
            .producer_config("delivery.timeout.ms", "200000");
        let producer = producer_config(&both, 0, None, DeliveryReports::All);
        assert_eq!(producer.get("message.timeout.ms"), Some("200000"));
        assert_eq!(producer.get("delivery.timeout.ms"), None);
        // Never past the consumer's poll interval (300 s by default), which would make the
        // thread leave its group; nor for records that never time out.
        let long = config
            .clone()
            .producer_config("message.timeout.ms", "900000");
        assert_eq!(flush(&long), Duration::from_secs(290));
        let never = config.clone().producer_config("message.timeout.ms", "0");
        assert_eq!(flush(&never), Duration::from_secs(290));
        let short_poll = config
            .clone()
            .consumer_config("max.poll.interval.ms", "60000");
        assert_eq!(flush(&short_poll), Duration::from_secs(50));
    }
}
