//! The admin facade against a real Kafka-protocol broker: the embedded mock cluster by
//! default, the broker named by `KSTREAMS_BOOTSTRAP` when set (as the broker suite does).

use super::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The admin under test, and the embedded cluster it runs on (kept alive) if any.
fn admin() -> (Option<EmbeddedCluster>, Admin) {
    match std::env::var("KSTREAMS_BOOTSTRAP") {
        Ok(b) if !b.is_empty() => (None, Admin::new(&b).expect("admin client")),
        _ => {
            let cluster = EmbeddedCluster::start().expect("embedded cluster");
            let admin = cluster.admin().expect("admin client");
            (Some(cluster), admin)
        }
    }
}

/// A topic name no other run used, so tests can share an external broker. The call
/// counter keeps parallel tests apart when they read the same nanosecond.
fn unique(name: &str) -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{nanos}-{n}", std::process::id())
}

#[test]
fn creating_twice_is_success_and_partition_count_reads_it() {
    let (_cluster, admin) = admin();
    let name = unique("admin-twice");
    let topic = NewTopic::new(&name, 3).config("cleanup.policy", "compact");
    admin.create_topics(std::slice::from_ref(&topic)).unwrap();
    assert_eq!(admin.partition_count(&name).unwrap(), Some(3));
    admin.create_topics(&[topic]).unwrap();
    assert_eq!(admin.partition_count(&name).unwrap(), Some(3));
    assert_eq!(admin.topics().unwrap().get(&name), Some(&3));
}

#[test]
fn another_partition_count_is_an_error_naming_the_topic_and_creates_nothing() {
    let (_cluster, admin) = admin();
    let name = unique("admin-mismatch");
    let other = unique("admin-not-created");
    admin.create_topics(&[NewTopic::new(&name, 3)]).unwrap();
    let err = admin
        .create_topics(&[NewTopic::new(&other, 2), NewTopic::new(&name, 5)])
        .unwrap_err();
    match &err {
        AdminError::PartitionMismatch {
            topic,
            existing,
            requested,
        } => assert_eq!((topic, *existing, *requested), (&name, 3, 5)),
        e => panic!("expected a partition mismatch, got {e:?}"),
    }
    assert!(err.to_string().contains(&name), "{err}");
    assert_eq!(admin.partition_count(&other).unwrap(), None);
}

#[test]
fn asking_for_a_missing_topic_creates_none() {
    let (_cluster, admin) = admin();
    let name = unique("admin-missing");
    assert_eq!(admin.partition_count(&name).unwrap(), None);
    // The mock creates a topic that a client asks for by name; the facade never does.
    assert!(!admin.topics().unwrap().contains_key(&name));
}

#[test]
fn invalid_specifications_are_refused_before_anything_is_sent() {
    let (_cluster, admin) = admin();
    for (topic, why) in [
        (NewTopic::new("no partitions", 0), "space in the name"),
        (NewTopic::new("zero-partitions", 0), "0 partitions"),
        (
            NewTopic::new("zero-replicas", 1).replication_factor(0),
            "0 replicas",
        ),
        (NewTopic::new("", 1), "empty name"),
    ] {
        let err = admin
            .create_topics(std::slice::from_ref(&topic))
            .unwrap_err();
        assert!(
            matches!(&err, AdminError::InvalidTopic { topic: t, .. } if *t == topic.name),
            "{why}: {err:?}"
        );
    }
    let name = unique("admin-twice-in-call");
    let err = admin
        .create_topics(&[NewTopic::new(&name, 1), NewTopic::new(&name, 1)])
        .unwrap_err();
    assert!(matches!(err, AdminError::InvalidTopic { .. }), "{err:?}");
    assert_eq!(admin.partition_count(&name).unwrap(), None);
}

#[test]
fn deleting_removes_the_topic_where_the_cluster_can() {
    let (cluster, admin) = admin();
    let name = unique("admin-delete");
    admin.create_topics(&[NewTopic::new(&name, 2)]).unwrap();
    let result = admin.delete_topics(&[&name]);
    if cluster.is_some() {
        // librdkafka's mock has no DeleteTopics: a typed refusal, and the topic stays.
        assert!(
            matches!(result, Err(AdminError::Unsupported(_))),
            "{result:?}"
        );
        assert_eq!(admin.partition_count(&name).unwrap(), Some(2));
    } else {
        result.unwrap();
        assert_eq!(admin.partition_count(&name).unwrap(), None);
        // Idempotent: the topic is gone already.
        admin.delete_topics(&[&name]).unwrap();
    }
}

#[test]
fn the_applications_client_settings_reach_the_admin_client() {
    // An invalid security protocol is refused by librdkafka when the client is made: the
    // setting went into the admin's configuration.
    let config = StreamsConfig::new("admin-settings", "127.0.0.1:9")
        .client_config("security.protocol", "carrier-pigeon");
    let err = Admin::from_config(&config).unwrap_err();
    assert!(matches!(err, AdminError::Client(_)), "{err:?}");
    let err = Admin::with_client_config("127.0.0.1:9", [("security.protocol", "carrier-pigeon")])
        .unwrap_err();
    assert!(matches!(err, AdminError::Client(_)), "{err:?}");
    // And a valid one is taken.
    let admin = Admin::with_client_config("127.0.0.1:9", [("security.protocol", "plaintext")])
        .unwrap()
        .timeout(Duration::from_millis(300));
    // Nothing listens there: a request error within the timeout, not a hang.
    let started = Instant::now();
    let err = admin.partition_count("x").unwrap_err();
    assert!(matches!(err, AdminError::Request { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_embedded_cluster_serves_clients_and_creates_with_several_brokers() {
    let cluster = EmbeddedCluster::with_brokers(3).unwrap();
    assert_eq!(cluster.brokers(), 3);
    assert!(cluster.mock().is_some());
    let admin = cluster.admin().unwrap();
    admin
        .create_topics(&[NewTopic::new("replicated", 6)])
        .unwrap();
    assert_eq!(admin.partition_count("replicated").unwrap(), Some(6));
    // A plain rdkafka client finds it through the bootstrap servers.
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    assert_eq!(md.brokers().len(), 3);
    // The admin keeps the brokers up after the cluster handle is gone.
    drop(cluster);
    assert_eq!(admin.partition_count("replicated").unwrap(), Some(6));
}

#[test]
fn topic_config_reads_what_creation_set_or_says_the_embedded_broker_cannot() {
    let (cluster, admin) = admin();
    let name = unique("admin-configs");
    let topic = NewTopic::new(&name, 1)
        .config("retention.ms", "3600000")
        .config("compression.type", "lz4");
    admin.create_topics(&[topic]).unwrap();
    if cluster.is_some() {
        let err = admin.topic_config(&name).unwrap_err();
        assert!(matches!(err, AdminError::Unsupported(_)), "{err:?}");
        return;
    }
    let configs = admin.topic_config(&name).unwrap();
    assert_eq!(
        configs.get("retention.ms").map(String::as_str),
        Some("3600000")
    );
    assert_eq!(
        configs.get("compression.type").map(String::as_str),
        Some("lz4")
    );
    // A default the creation did not set is reported too.
    assert_eq!(
        configs.get("cleanup.policy").map(String::as_str),
        Some("delete")
    );
    let missing = unique("admin-no-such-topic");
    let err = admin.topic_config(&missing).unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
}
