//! # kstreams-testkit
//!
//! A test driver for kstreams topologies, with no broker: pipe records into input topics,
//! read output topics and stores, advance the wall clock.
//!
//! Unlike Kafka's `TopologyTestDriver`, topics have as many partitions as you give them.
//! Keys are partitioned with Java's murmur2, one task runs per partition of every
//! subtopology, and records written to repartition topics are fed back to the tasks that
//! read them, so a test sees the same partitioning a cluster would. The tasks are the same
//! [`Task`](kstreams::internals::Task)s the Kafka runtime runs.
//!
//! ```
//! use kstreams::{Consumed, Produced, StreamsBuilder};
//! use kstreams::serde::StringSerde;
//! use kstreams_testkit::TestDriver;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("text-input", Consumed::with(StringSerde, StringSerde))
//!     .filter(|_, v| v.contains('a'))
//!     .map_values(|v| v.to_uppercase())
//!     .to("text-output", Produced::with(StringSerde, StringSerde));
//! let driver = TestDriver::builder(builder.build().unwrap()).partitions("text-input", 4).build().unwrap();
//!
//! let input = driver.input_topic("text-input", StringSerde, StringSerde);
//! for text in ["kafka", "streams", "java", "rust"] {
//!     input.pipe_keyless(text.to_string()).unwrap();
//! }
//! let output = driver.output_topic("text-output", StringSerde, StringSerde);
//! let mut values = output.read_values();
//! values.sort();
//! assert_eq!(values, ["JAVA", "KAFKA", "STREAMS"]);
//! ```

pub mod broker;
mod driver;
pub mod kafka;
pub mod logs;
mod topics;

pub use driver::{TestDriver, TestDriverBuilder, TestDriverError};
pub use topics::{TestInputTopic, TestOutputTopic, TestRecord};

/// A store read across the driver's partitions.
pub type KeyValueStoreView<K, V> = kstreams::state::CompositeReadOnlyStore<K, V>;
