//! The platform's topics on Apache Kafka keep what the platform promises: 60 days of
//! history by time, compression, and compaction where a topic is a table. Ignored under
//! `cargo test --workspace` (it needs a broker with topic configs); `.ci/run` runs it with
//! `KSTREAMS_KAFKA_BOOTSTRAP` set.

use kstreams::runtime::kafka::Admin;
use records::topics;

#[test]
#[ignore = "needs Apache Kafka: KSTREAMS_KAFKA_BOOTSTRAP"]
fn kafka_topics_are_compressed_and_keep_sixty_days() {
    let bootstrap = std::env::var("KSTREAMS_KAFKA_BOOTSTRAP")
        .expect("KSTREAMS_KAFKA_BOOTSTRAP names the Apache Kafka broker");
    let admin = Admin::new(&bootstrap).unwrap();
    topics::create_all(&admin, 2).unwrap();
    let sixty_days_ms = (60u64 * 24 * 3600 * 1000).to_string();
    for topic in topics::ALL {
        let configs = admin.topic_config(topic).unwrap();
        let get = |k: &str| configs.get(k).map(String::as_str);
        assert_eq!(
            get("compression.type"),
            Some(topics::COMPRESSION),
            "{topic}"
        );
        if topic == topics::CUSTOMERS || topic == topics::METRICS {
            assert_eq!(get("cleanup.policy"), Some("compact"), "{topic}");
        } else {
            assert_eq!(get("cleanup.policy"), Some("delete"), "{topic}");
            assert_eq!(get("retention.ms"), Some(sixty_days_ms.as_str()), "{topic}");
        }
    }
}
