//! The Processor API: the trait every operator implements, the context it runs in, and
//! the records it sees.
//!
//! DSL operators are processors too; a custom one plugs in with
//! [`KStream::process`](crate::KStream::process):
//!
//! ```
//! use kstreams::processor::{Processor, ProcessorContext, Record};
//! use kstreams::Result;
//!
//! /// Emits the running length of every key's values.
//! struct Lengths;
//!
//! impl Processor<String, String, String, usize> for Lengths {
//!     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, usize>, r: Record<String, String>) -> Result<()> {
//!         let len = r.value.len();
//!         ctx.forward(r.with_value(len))
//!     }
//! }
//! ```

mod api;
mod handlers;
pub(crate) mod node;
mod record;
pub(crate) mod sink;
pub(crate) mod source;
mod timestamp;

pub use api::{Processor, ProcessorContext, PunctuationType, PunctuatorId};
pub(crate) use handlers::{dead_letter_headers, dead_letter_record, panic_message, RawInput};
pub use handlers::{
    dlq_headers, DeadLetter, DeserializationExceptionHandler, ErrorContext, HandlerResponse,
    LogAndContinue, LogAndFail, ProcessingExceptionHandler, ProductionExceptionHandler,
    ProductionResponse, SharedDeserializationHandler, SharedProcessingHandler,
    SharedProductionHandler,
};
pub use record::{Change, Header, Headers, Record, RecordMetadata};
pub use sink::{StreamPartitioner, TopicNameExtractor};
pub use timestamp::{InvalidTimestamp, TimestampExtractor};
