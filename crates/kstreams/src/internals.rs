//! **Not API.** The runtime's building blocks that `kstreams-testkit` and `kstreams-bench`
//! drive directly: a task and its configuration, where its output goes, the raw input
//! record, and the store engines under the layers the topology stacks on them.
//!
//! Hidden from the docs and outside any semver promise: applications build topologies
//! with the DSL or the processor API and run them with `KafkaStreams` or the test driver.

pub use crate::processor::source::InputRecord;
pub use crate::runtime::collector::{OutgoingRecord, RecordCollector};
pub use crate::runtime::task::{Task, TaskConfig};
pub use crate::state::caching::CachingStore;
pub use crate::state::changelog::ChangeLoggingStore;
pub use crate::state::persistent::{FjallDatabase, FjallStore};
