//! Model-based test of the persistent engine: random puts, deletes, gets and range scans
//! compared with a BTreeMap, with the database closed and reopened in the middle of the
//! sequence (as fjall's own recovery tests reopen the store). Restoration's batched writes
//! (`restore_batch`, one fjall write batch) and expiry (`expire_range` for window stores,
//! `expire_where` for key-first ones) are among the operations. The in-memory engine, and a record cache with a small budget over a
//! change-logging in-memory engine, run the same operations against the same model.

use kstreams::internals::{CachingStore, ChangeLoggingStore, FjallDatabase, FjallStore};
use kstreams::runtime::TaskId;
use kstreams::state::{
    CacheBudget, InMemoryKeyValueStore, KeyValueBytesStore, MemoryBudget, RestoreBatch,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Get(Vec<u8>),
    Range(Option<Vec<u8>>, Option<Vec<u8>>),
    /// Restored writes, oldest first: the later of two writes to a key wins.
    Restore(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// Drops the keys in `[from, to)` (from the start for `None`).
    Expire(Option<Vec<u8>>, Vec<u8>),
    /// Drops the keys that hold this byte.
    ExpireHolding(u8),
    Reopen,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..6, 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (key(), prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(k, v)| Op::Put(k, v)),
        2 => key().prop_map(Op::Delete),
        2 => key().prop_map(Op::Get),
        2 => (prop::option::of(key()), prop::option::of(key())).prop_map(|(a, b)| Op::Range(a, b)),
        2 => prop::collection::vec(
            (key(), prop::option::of(prop::collection::vec(any::<u8>(), 0..20))),
            0..30
        ).prop_map(Op::Restore),
        1 => (prop::option::of(key()), key()).prop_map(|(a, b)| Op::Expire(a, b)),
        1 => (0u8..6).prop_map(Op::ExpireHolding),
        1 => Just(Op::Reopen),
    ]
}

fn fresh_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kstreams-store-model-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &std::path::Path) -> FjallStore {
    let db = FjallDatabase::open(dir, MemoryBudget::new(8 << 20)).unwrap();
    db.open_store(TaskId::new(0, 3), "model").unwrap()
}

/// What an operation returned, as the model says or a store did.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Done,
    Value(Option<Vec<u8>>),
    Entries(Vec<(Vec<u8>, Vec<u8>)>),
}

fn in_range(k: &[u8], from: Option<&Vec<u8>>, to: Option<&Vec<u8>>) -> bool {
    from.is_none_or(|f| k >= f.as_slice()) && to.is_none_or(|t| k < t.as_slice())
}

/// Applies `op` to the model.
fn apply(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, op: &Op) -> Outcome {
    match op {
        Op::Put(k, v) => {
            model.insert(k.clone(), v.clone());
            Outcome::Done
        }
        Op::Delete(k) => Outcome::Value(model.remove(k)),
        Op::Get(k) => Outcome::Value(model.get(k).cloned()),
        Op::Range(a, b) => Outcome::Entries(
            model
                .iter()
                .filter(|(k, _)| in_range(k, a.as_ref(), b.as_ref()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Op::Restore(writes) => {
            for (k, v) in writes {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
            Outcome::Done
        }
        Op::Expire(from, to) => {
            model.retain(|k, _| !in_range(k, from.as_ref(), Some(to)));
            Outcome::Done
        }
        Op::ExpireHolding(b) => {
            model.retain(|k, _| !k.contains(b));
            Outcome::Done
        }
        Op::Reopen => Outcome::Done,
    }
}

/// Applies `op` to a store.
fn run(store: &mut dyn KeyValueBytesStore, op: &Op) -> Outcome {
    match op {
        Op::Put(k, v) => {
            store.put(k, v).unwrap();
            Outcome::Done
        }
        Op::Delete(k) => Outcome::Value(store.delete(k).unwrap()),
        Op::Get(k) => Outcome::Value(store.get(k).unwrap()),
        Op::Range(a, b) => {
            let lo = a.as_deref().map_or(Bound::Unbounded, Bound::Included);
            let hi = b.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let inverted = matches!((a, b), (Some(a), Some(b)) if a >= b);
            Outcome::Entries(if inverted {
                Vec::new()
            } else {
                store.range(lo, hi).map(|kv| kv.unwrap()).collect()
            })
        }
        Op::Restore(writes) => {
            let mut batch = RestoreBatch::default();
            for (k, v) in writes {
                batch.push(&[k], v.as_deref().map(|v| [v]).as_ref().map(|v| &v[..]));
            }
            store.restore_batch(&batch).unwrap();
            Outcome::Done
        }
        Op::Expire(from, to) => {
            store.expire_range(from.as_deref(), to).unwrap();
            Outcome::Done
        }
        Op::ExpireHolding(b) => {
            store.expire_where(&|k| k.contains(b)).unwrap();
            Outcome::Done
        }
        Op::Reopen => Outcome::Done,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fjall_store_behaves_like_an_ordered_map_across_reopens(ops in prop::collection::vec(op(), 1..120)) {
        let dir = fresh_dir();
        let mut store = open(&dir);
        let mut memory = InMemoryKeyValueStore::new("model");
        // Small enough that the cache writes down to the engine every few operations.
        let budget = CacheBudget::new(300);
        let mut cached = CachingStore::new(
            Box::new(ChangeLoggingStore::new(Box::new(InMemoryKeyValueStore::new("model")))),
            budget.clone(),
        );
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Reopen => {
                    store.flush().unwrap();
                    drop(store);
                    store = open(&dir);
                    cached.flush_cache().unwrap();
                }
                op => {
                    let want = apply(&mut model, &op);
                    prop_assert_eq!(run(&mut store, &op), want.clone(), "fjall, {:?}", op);
                    prop_assert_eq!(run(&mut memory, &op), want.clone(), "in memory, {:?}", op);
                    prop_assert_eq!(run(&mut cached, &op), want, "cached, {:?}", op);
                }
            }
        }
        let everything = |s: &dyn KeyValueBytesStore| -> Vec<_> {
            s.range(Bound::Unbounded, Bound::Unbounded).map(|kv| kv.unwrap()).collect()
        };
        let want: Vec<_> = model.clone().into_iter().collect();
        prop_assert_eq!(everything(&memory), want.clone());
        cached.flush_cache().unwrap();
        prop_assert_eq!(everything(&cached), want);
        drop(cached);
        prop_assert_eq!(budget.used(), 0, "a dropped cache returns its bytes");
        // Whatever happened, a final reopen sees exactly the model.
        store.flush().unwrap();
        drop(store);
        let store = open(&dir);
        let all: Vec<_> = store.range(Bound::Unbounded, Bound::Unbounded).map(|kv| kv.unwrap()).collect();
        let want: Vec<_> = model.into_iter().collect();
        prop_assert_eq!(all, want);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn wiped_store_is_empty_and_other_stores_keep_their_data() {
    let dir = fresh_dir();
    let db = FjallDatabase::open(&dir, MemoryBudget::default()).unwrap();
    let mut a = db.open_store(TaskId::new(0, 0), "s").unwrap();
    let mut b = db.open_store(TaskId::new(0, 1), "s").unwrap();
    a.put(b"k", b"a").unwrap();
    b.put(b"k", b"b").unwrap();
    drop(a);
    db.wipe_store(TaskId::new(0, 0), "s").unwrap();
    let a = db.open_store(TaskId::new(0, 0), "s").unwrap();
    assert_eq!(a.get(b"k").unwrap(), None);
    assert_eq!(b.get(b"k").unwrap(), Some(b"b".to_vec()));
    drop((a, b, db));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A commit flushes every store of every task; the journal they share is synced once, by
/// the first flush after a write, and what it synced survives a reopen.
#[test]
fn stores_sharing_a_database_sync_its_journal_once_per_round_of_writes() {
    let dir = fresh_dir();
    let db = FjallDatabase::open(&dir, MemoryBudget::new(8 << 20)).unwrap();
    let mut a = db.open_store(TaskId::new(0, 0), "a").unwrap();
    let mut b = db.open_store(TaskId::new(0, 1), "b").unwrap();
    a.put(b"k", b"1").unwrap();
    b.put(b"k", b"2").unwrap();
    a.flush().unwrap();
    b.flush().unwrap();
    assert_eq!(
        db.syncs(),
        1,
        "both writes are in the journal the first flush synced"
    );
    a.flush().unwrap();
    assert_eq!(db.syncs(), 1, "nothing written since");
    b.delete(b"k").unwrap();
    a.flush().unwrap();
    assert_eq!(db.syncs(), 2, "a write through another store needs a sync");
    drop((a, b, db));
    let db = FjallDatabase::open(&dir, MemoryBudget::new(8 << 20)).unwrap();
    let a = db.open_store(TaskId::new(0, 0), "a").unwrap();
    let b = db.open_store(TaskId::new(0, 1), "b").unwrap();
    assert_eq!(a.get(b"k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(b.get(b"k").unwrap(), None);
    drop((a, b, db));
    let _ = std::fs::remove_dir_all(&dir);
}
