//! Creating the platform's topics through the library's admin facade, on the embedded
//! cluster: idempotent with the same partition count, refused naming the topic with another.

use kstreams::runtime::kafka::{Admin, NewTopic};
use records::topics::{self, Cluster, TopicError};
use std::sync::Arc;

#[test]
fn creating_existing_topics_with_the_same_partitions_succeeds() {
    let cluster = Cluster::embedded().unwrap();
    topics::create_all(cluster.admin(), 3).unwrap();
    // Again, through the embedded cluster's admin and through a plain one (as `records
    // generate` does against a cluster another process owns): nothing to create, success.
    topics::create_all(cluster.admin(), 3).unwrap();
    let plain = Admin::new(cluster.bootstrap()).unwrap();
    topics::create_all(&plain, 3).unwrap();
    let existing = cluster.admin().topics().unwrap();
    for t in topics::ALL {
        assert_eq!(existing.get(t), Some(&3), "{t}: {existing:?}");
    }
}

#[test]
fn a_topic_with_another_partition_count_is_refused_by_name() {
    let cluster = Cluster::embedded().unwrap();
    cluster
        .admin()
        .create_topics(&[NewTopic::new(topics::ALERTS, 2)])
        .unwrap();
    let err = topics::create_all(cluster.admin(), 3).unwrap_err();
    match &err {
        TopicError::PartitionMismatch {
            topic,
            existing,
            requested,
        } => assert_eq!((topic.as_str(), *existing, *requested), ("alerts", 2, 3)),
        other => panic!("expected a partition mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("topic alerts"), "{err}");
    // Checked before anything was created.
    assert_eq!(
        cluster.admin().partition_count(topics::CUSTOMERS).unwrap(),
        None
    );
}

#[test]
fn internal_topics_are_created_on_the_embedded_cluster() {
    let cluster = Cluster::embedded().unwrap();
    assert!(cluster.is_embedded());
    topics::create_all(cluster.admin(), 2).unwrap();
    let topology = records::notify::topology(Default::default(), Arc::default()).unwrap();
    topics::create_internal(cluster.admin(), &topology, "records-notify", 2, false).unwrap();
    let existing = cluster.admin().topics().unwrap();
    for store in ["notify-last", "notify-rate"] {
        let changelog = format!("records-notify-{store}-changelog");
        assert_eq!(existing.get(&changelog), Some(&2), "{existing:?}");
    }
}
