//! DSL operators, one per file. Each is a [`Processor`](crate::processor::Processor), so a
//! DSL topology and a hand-written one run through the same node machinery.

pub(crate) mod branch;
pub(crate) mod expiry;
pub(crate) mod filter;
pub(crate) mod fk_join;
pub(crate) mod flat_map;
pub(crate) mod map;
pub(crate) mod passthrough;
pub(crate) mod peek;
pub(crate) mod session_aggregate;
pub(crate) mod sliding_aggregate;
pub(crate) mod stream_aggregate;
pub(crate) mod stream_global_join;
pub(crate) mod stream_stream_join;
pub(crate) mod stream_table_join;
pub(crate) mod suppress;
pub(crate) mod table_aggregate;
pub(crate) mod table_filter;
pub(crate) mod table_map_values;
pub(crate) mod table_select;
pub(crate) mod table_source;
pub(crate) mod table_table_join;
pub(crate) mod table_to_stream;
pub(crate) mod window_aggregate;
