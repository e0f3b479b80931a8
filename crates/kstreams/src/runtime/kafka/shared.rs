//! What the client handle and its threads share: the client state and its listener, the
//! threads' phases, the live tasks' stores and counters.

use super::inspect::TextQuery;
use super::introspect::ThreadMetadata;
use super::supervisor::REPLACEMENT_WINDOW;
use super::ClientMetrics;
use super::{State, StreamThreadExceptionResponse, StreamsConfig};
use crate::error::StreamsError;
use crate::runtime::{TaskId, TaskMetrics};
use crate::state::StoreHandle;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(super) type StateListener = Box<dyn Fn(State, State) + Send + Sync>;
pub(super) type ErrorHandler =
    Box<dyn Fn(&StreamsError) -> StreamThreadExceptionResponse + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadPhase {
    Rebalancing,
    Running,
    Dead,
}

impl ThreadPhase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ThreadPhase::Rebalancing => "REBALANCING",
            ThreadPhase::Running => "RUNNING",
            ThreadPhase::Dead => "DEAD",
        }
    }
}

/// State shared by the client handle and its threads.
pub(crate) struct Shared {
    pub(super) running: AtomicBool,
    pub(super) state: Mutex<State>,
    pub(super) listener: Mutex<Option<StateListener>>,
    pub(super) handler: Mutex<Option<ErrorHandler>>,
    pub(super) threads: Mutex<BTreeMap<usize, (ThreadPhase, Vec<TaskId>)>>,
    pub(super) processed: AtomicU64,
    /// The stores of every live task, for interactive queries.
    pub(super) stores: Mutex<BTreeMap<TaskId, Vec<StoreHandle>>>,
    /// Changelog records restored, and the time spent restoring, since start.
    pub(super) restored: AtomicU64,
    pub(super) restore_nanos: AtomicU64,
    /// Exactly-once transactions committed and aborted.
    pub(crate) txn_committed: AtomicU64,
    pub(crate) txn_aborted: AtomicU64,
    /// Failed deliveries the production handler skipped.
    pub(crate) delivery_errors_skipped: Arc<AtomicU64>,
    /// The counters of every live task as of its thread's last commit, and the sum of
    /// those of tasks closed since start.
    pub(crate) task_metrics: Mutex<BTreeMap<TaskId, TaskMetrics>>,
    pub(super) retired_metrics: Mutex<TaskMetrics>,
    /// Held from deriving the client state out of the threads' phases until the listener
    /// has heard of it, so transitions are reported in order; never held while the
    /// threads' map is locked by a caller, so a listener may query the client.
    pub(super) transitions: Mutex<()>,
    /// When stream threads were replaced lately, for the backoff and the limit.
    pub(super) replacements: Mutex<Vec<Instant>>,
    /// What each live stream thread last published about itself.
    pub(super) thread_reports: Mutex<BTreeMap<usize, ThreadMetadata>>,
    /// Stream threads that failed since start.
    pub(super) failed_threads: AtomicU64,
    /// The global stores, once loaded.
    pub(super) globals: Mutex<Option<Arc<crate::topology::GlobalStores>>>,
    /// Partitions per topic, as `start` found them: how a queried key finds its task.
    pub(super) partitions: Mutex<Arc<super::FastMap<String, u32>>>,
    /// The stores exposed to queries by text key, by name.
    pub(super) queries: Mutex<BTreeMap<String, Arc<dyn TextQuery>>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(super) fn new() -> Self {
        Shared {
            running: AtomicBool::new(false),
            state: Mutex::new(State::Created),
            listener: Mutex::new(None),
            handler: Mutex::new(None),
            threads: Mutex::new(BTreeMap::new()),
            processed: AtomicU64::new(0),
            stores: Mutex::new(BTreeMap::new()),
            restored: AtomicU64::new(0),
            restore_nanos: AtomicU64::new(0),
            txn_committed: AtomicU64::new(0),
            txn_aborted: AtomicU64::new(0),
            delivery_errors_skipped: Arc::new(AtomicU64::new(0)),
            task_metrics: Mutex::new(BTreeMap::new()),
            retired_metrics: Mutex::new(TaskMetrics::default()),
            transitions: Mutex::new(()),
            replacements: Mutex::new(Vec::new()),
            thread_reports: Mutex::new(BTreeMap::new()),
            failed_threads: AtomicU64::new(0),
            globals: Mutex::new(None),
            partitions: Mutex::default(),
            queries: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn publish_stores(&self, task: TaskId, stores: Vec<StoreHandle>) {
        lock(&self.stores).insert(task, stores);
    }

    pub(crate) fn withdraw_stores(&self, task: TaskId) {
        lock(&self.stores).remove(&task);
    }

    pub(crate) fn add_restored(&self, records: u64, took: Duration) {
        self.restored.fetch_add(records, Ordering::Relaxed);
        self.restore_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Folds a closed task's counters into the retired sum.
    pub(crate) fn retire_metrics(&self, task: TaskId, last: &TaskMetrics) {
        lock(&self.task_metrics).remove(&task);
        lock(&self.retired_metrics).add(last);
    }

    /// Keeps what a stream thread tells about itself, until it dies.
    pub(crate) fn publish_thread(&self, index: usize, report: ThreadMetadata) {
        if lock(&self.threads).get(&index).map(|(p, _)| *p) != Some(ThreadPhase::Dead) {
            lock(&self.thread_reports).insert(index, report);
        }
    }

    /// The instance's counters: its tasks' (live ones as of their last commit, closed ones
    /// in full), transactions, and deliveries the production handler skipped.
    pub(super) fn client_metrics(&self) -> ClientMetrics {
        let mut tasks = lock(&self.retired_metrics).clone();
        for m in lock(&self.task_metrics).values() {
            tasks.add(m);
        }
        ClientMetrics {
            tasks,
            transactions_committed: self.txn_committed.load(Ordering::Relaxed),
            transactions_aborted: self.txn_aborted.load(Ordering::Relaxed),
            delivery_errors_skipped: self.delivery_errors_skipped.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add_processed(&self, n: u64) {
        self.processed.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn set_state(&self, new: State) {
        let old = {
            let mut s = lock(&self.state);
            let old = *s;
            if old == new {
                return;
            }
            *s = new;
            old
        };
        tracing::info!("State transition from {old:?} to {new:?}");
        if let Some(l) = lock(&self.listener).as_ref() {
            l(old, new);
        }
    }

    pub(crate) fn thread_phase(&self, index: usize, phase: ThreadPhase, tasks: Vec<TaskId>) {
        // Two threads changing phase at once must not leave a stale client state behind,
        // so deriving and reporting it are one step; but the listener runs with the
        // threads' map unlocked, so it may call back into the client.
        let _order = lock(&self.transitions);
        let all_running = {
            let mut threads = lock(&self.threads);
            threads.insert(index, (phase, tasks));
            if phase == ThreadPhase::Dead {
                lock(&self.thread_reports).remove(&index);
            }
            threads
                .values()
                .filter(|(p, _)| *p != ThreadPhase::Dead)
                .all(|(p, _)| *p == ThreadPhase::Running)
        };
        let current = *lock(&self.state);
        if matches!(current, State::Running | State::Rebalancing) {
            self.set_state(if all_running {
                State::Running
            } else {
                State::Rebalancing
            });
        }
    }

    /// Records a replacement of a stream thread and returns how long to wait before it: the
    /// configured backoff after the first of the last ten minutes, doubling to at most a
    /// minute; `Err` with the count once there were as many as configured, which is not a
    /// passing fault any more.
    pub(super) fn replacement_backoff(
        &self,
        config: &StreamsConfig,
    ) -> std::result::Result<Duration, usize> {
        let mut recent = lock(&self.replacements);
        recent.retain(|t| t.elapsed() < REPLACEMENT_WINDOW);
        if recent.len() >= config.max_thread_replacements {
            return Err(recent.len());
        }
        let factor = 1u32 << recent.len().min(16);
        let backoff = config
            .replacement_backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(60));
        recent.push(Instant::now());
        Ok(backoff)
    }
}
