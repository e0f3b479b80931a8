//! Instantiated nodes of a task: typed edges, erased lifecycle.
//!
//! A node with input `(K, V)` is a `NodeRef<K, V>`; its parent holds it as a child and calls
//! it directly, so records move between processors as typed values with no serialization
//! and no `Any`. The task keeps a second, untyped handle on every node (`Lifecycle`) for
//! init, punctuation and close.

use super::api::{Processor, ProcessorContext, PunctuatorId};
use super::Record;
use crate::error::{Result, StreamsError, TopologyError};
use crate::runtime::context::TaskContext;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

/// Identity of a node within a task.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub(crate) name: Arc<str>,
    /// Position in the task's lifecycle list; punctuation schedules point at it.
    pub(crate) index: usize,
    /// Stores this node may access.
    pub(crate) stores: Arc<[String]>,
}

/// A node that takes typed records.
pub(crate) trait Node<K, V> {
    fn process(&mut self, task: &mut TaskContext, record: Record<K, V>) -> Result<()>;
}

pub(crate) type NodeRef<K, V> = Rc<RefCell<dyn Node<K, V>>>;

/// An edge to a child node.
pub(crate) struct Child<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) node: NodeRef<K, V>,
    /// Records the child took, over all its edges (Kafka Streams' processor-node
    /// `process-total`): one plain increment, the task's thread being the only one.
    pub(crate) processed: Rc<Cell<u64>>,
}

impl<K, V> Clone for Child<K, V> {
    fn clone(&self) -> Self {
        Child {
            name: self.name.clone(),
            node: self.node.clone(),
            processed: self.processed.clone(),
        }
    }
}

impl<K, V> Child<K, V> {
    #[inline]
    pub(crate) fn process(&self, task: &mut TaskContext, record: Record<K, V>) -> Result<()> {
        // A topology is acyclic, so a node is never re-entered; a failure here is a bug in
        // topology construction, reported rather than panicking.
        let mut node = self.node.try_borrow_mut().map_err(|_| {
            StreamsError::Topology(TopologyError::Invalid(format!(
                "node {} re-entered: the topology has a cycle",
                self.name
            )))
        })?;
        // A panic in user code becomes a processing error that names this node, for the
        // task's processing handler; the borrow is released as the panic unwinds.
        let _named = PanicNamer(&self.name);
        self.processed.set(self.processed.get() + 1);
        node.process(task, record)
    }
}

thread_local! {
    /// The innermost node a panic unwound through, for the task that catches it.
    static PANICKED_IN: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Names the node a panic started in: the first guard dropped while unwinding is the
/// innermost node's. A drop guard rather than a `catch_unwind` per node, which measurably
/// slows the hot path; the task catches the panic once per record.
struct PanicNamer<'a>(&'a Arc<str>);

impl Drop for PanicNamer<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            PANICKED_IN.with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    p.get_or_insert_with(|| self.0.clone());
                }
            });
        }
    }
}

/// The node the last caught panic started in, if it started inside one.
pub(crate) fn take_panicked_node() -> Option<Arc<str>> {
    PANICKED_IN.with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take()))
}

/// Sends `record` to every child in order, cloning for all but the last.
#[inline]
pub(crate) fn forward_all<K: Clone, V: Clone>(
    children: &[Child<K, V>],
    task: &mut TaskContext,
    record: Record<K, V>,
) -> Result<()> {
    match children {
        [] => Ok(()),
        [only] => only.process(task, record),
        [init @ .., last] => {
            for child in init {
                child.process(task, record.clone())?;
            }
            last.process(task, record)
        }
    }
}

/// The untyped side of a node.
pub(crate) trait Lifecycle {
    fn name(&self) -> &str;
    fn init(&mut self, task: &mut TaskContext) -> Result<()>;
    fn punctuate(&mut self, task: &mut TaskContext, id: PunctuatorId, timestamp: i64)
        -> Result<()>;
    fn close(&mut self);
}

/// Runs a [`Processor`] and forwards to its children.
pub(crate) struct ProcessorNode<P, KI, VI, KO, VO> {
    info: NodeInfo,
    processor: P,
    children: Vec<Child<KO, VO>>,
    _input: PhantomData<fn(KI, VI)>,
}

impl<P, KI, VI, KO, VO> ProcessorNode<P, KI, VI, KO, VO> {
    pub(crate) fn new(info: NodeInfo, processor: P, children: Vec<Child<KO, VO>>) -> Self {
        ProcessorNode {
            info,
            processor,
            children,
            _input: PhantomData,
        }
    }
}

impl<P, KI, VI, KO, VO> Node<KI, VI> for ProcessorNode<P, KI, VI, KO, VO>
where
    P: Processor<KI, VI, KO, VO>,
{
    #[inline]
    fn process(&mut self, task: &mut TaskContext, record: Record<KI, VI>) -> Result<()> {
        let mut ctx = ProcessorContext {
            task,
            node: &self.info,
            children: &self.children,
        };
        match self.processor.process(&mut ctx, record) {
            Ok(()) => Ok(()),
            Err(e) => Err(ctx.task.locate(e)),
        }
    }
}

impl<P, KI, VI, KO, VO> Lifecycle for ProcessorNode<P, KI, VI, KO, VO>
where
    P: Processor<KI, VI, KO, VO>,
{
    fn name(&self) -> &str {
        &self.info.name
    }

    fn init(&mut self, task: &mut TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext {
            task,
            node: &self.info,
            children: &self.children,
        };
        self.processor.init(&mut ctx)
    }

    fn punctuate(
        &mut self,
        task: &mut TaskContext,
        id: PunctuatorId,
        timestamp: i64,
    ) -> Result<()> {
        let mut ctx = ProcessorContext {
            task,
            node: &self.info,
            children: &self.children,
        };
        match self.processor.punctuate(&mut ctx, id, timestamp) {
            Ok(()) => Ok(()),
            Err(e) => Err(ctx.task.locate(e)),
        }
    }

    fn close(&mut self) {
        self.processor.close();
    }
}
