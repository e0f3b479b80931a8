//! The typed DSL: [`StreamsBuilder`], [`KStream`], [`KTable`], grouping and aggregation,
//! joins.
//!
//! Every operation records a typed node factory in an untyped graph; `build()` validates
//! the graph, inserts nothing further, and cuts it into subtopologies at repartition
//! topics. Windowed aggregations (time, session, sliding) with emit-final, every join kind
//! of Kafka Streams (stream-stream windowed, stream-table, table-table, foreign-key,
//! stream-global) and cogrouping are here; the README's tables summarize them.

mod branch;
mod builder;
mod cogrouped_stream;
mod fk_join;
mod folds;
pub(crate) mod getter;
mod global_table;
mod grouped_stream;
mod grouped_table;
mod kstream;
mod ktable;
pub(crate) mod materialize;
pub(crate) mod ops;
mod params;
mod repartition;
mod session_stream;
mod sliding;
mod stream_join;
mod suppress;
mod windowed_stream;
mod windows;

pub use branch::BranchedKStream;
pub use builder::StreamsBuilder;
pub use cogrouped_stream::CogroupedKStream;
pub use global_table::GlobalKTable;
pub use grouped_stream::KGroupedStream;
pub use grouped_table::KGroupedTable;
pub use kstream::KStream;
pub use ktable::KTable;
pub use params::{Consumed, Grouped, Materialized, Produced, Repartitioned, StreamJoined};
pub use session_stream::SessionWindowedKStream;
pub use suppress::{EmitStrategy, Suppressed};
pub use windowed_stream::TimeWindowedKStream;
pub use windows::{
    JoinWindows, SessionWindowedSerde, SessionWindows, SlidingWindows, TimeWindows, Window,
    Windowed, WindowedSerde,
};
pub(crate) use windows::{SessionStoreSerde, StartFirstSerde};
