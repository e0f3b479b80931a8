//! A task's life, as in Kafka Streams: created with its stores open (and restoring them),
//! running once its processors are initialized, suspended once they are closed (the stores
//! stay open for the last commit), then closed.

use super::Task;
use crate::error::{Result, StreamsError};
use crate::processor::panic_message;
use std::panic::{catch_unwind, AssertUnwindSafe};

impl Task {
    /// Initializes the processors (their `init`): Kafka Streams' initialization of a task's
    /// topology, which comes after its stores are restored, so that a processor reading
    /// its stores in `init` sees their state. The task then takes records. Idempotent.
    ///
    /// # Errors
    /// [`StreamsError::ProcessorInit`] naming the first processor whose `init` fails or
    /// panics; the processors initialized before it are closed with the task.
    pub fn initialize(&mut self) -> Result<()> {
        match self.phase {
            Phase::Created => {}
            Phase::Running => return Ok(()),
            Phase::Suspended | Phase::Closed => {
                return Err(StreamsError::InvalidState(format!(
                    "task {} is {}: it cannot be initialized again",
                    self.ctx.task_id, self.phase
                )))
            }
        }
        self.phase = Phase::Running;
        let mut failed = None;
        // `lifecycles` lists children before their parents (the instantiator builds a node's
        // children first): reversed, parents initialize first, as in Kafka Streams.
        for node in self.lifecycles.iter().rev() {
            let ctx = &mut self.ctx;
            let message = match catch_unwind(AssertUnwindSafe(|| node.borrow_mut().init(ctx))) {
                Ok(Ok(())) => {
                    self.initialized += 1;
                    continue;
                }
                // `ProcessorContext::error` names the processor and a record, which `init`
                // has not: keep its message.
                Ok(Err(StreamsError::Processing { message, .. })) => message,
                Ok(Err(e)) => e.to_string(),
                Err(payload) => panic_message(&*payload),
            };
            failed = Some(StreamsError::ProcessorInit {
                processor: node.borrow().name().to_string(),
                task: self.ctx.task_id.to_string(),
                message,
            });
            break;
        }
        let Some(err) = failed else {
            return Ok(());
        };
        tracing::error!("{err}");
        // The processors that did initialize close; the task takes no record.
        self.suspend();
        Err(err)
    }

    /// Closes the processors, leaving the stores open: Kafka Streams' suspend, the first
    /// step of closing a task cleanly. What a processor's `close` writes to its stores then
    /// goes out with the commit that follows (the stream thread commits between this and
    /// [`close`](Self::close)), so it reaches the changelog and the next owner restores it.
    /// Only initialized processors close; a task still restoring has none. A processor
    /// whose `close` panics is logged and the others still close. Idempotent; afterwards
    /// the task takes no more records and runs no punctuation.
    pub fn suspend(&mut self) {
        match self.phase {
            Phase::Running => self.phase = Phase::Suspended,
            // Not initialized: no processor to close.
            Phase::Created => {
                self.phase = Phase::Suspended;
                return;
            }
            Phase::Suspended | Phase::Closed => return,
        }
        // In the order they initialized, as Kafka Streams closes them.
        for node in self.lifecycles.iter().rev().take(self.initialized) {
            let closed = catch_unwind(AssertUnwindSafe(|| node.borrow_mut().close()));
            if let Err(payload) = closed {
                tracing::error!(
                    task = %self.ctx.task_id,
                    processor = node.borrow().name(),
                    "processor close panicked: {}",
                    panic_message(&*payload)
                );
            }
        }
    }

    /// Closes processors (if [`suspend`](Self::suspend) did not already) and stores.
    /// Idempotent.
    pub fn close(&mut self) -> Result<()> {
        if self.phase == Phase::Closed {
            return Ok(());
        }
        self.suspend();
        self.phase = Phase::Closed;
        self.ctx.stores.flush()?;
        self.ctx.stores.close()?;
        Ok(())
    }
}

/// Where a task is in its life, as in Kafka Streams: created with its stores open (and
/// restoring them), running once its processors are initialized, suspended once they are
/// closed (the stores stay open for the last commit), then closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Created,
    Running,
    Suspended,
    Closed,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Created => "created (not initialized)",
            Phase::Running => "running",
            Phase::Suspended => "suspended",
            Phase::Closed => "closed",
        })
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(task = %self.ctx.task_id, "closing task on drop failed: {e}");
        }
    }
}
