//! Model-based test of the persistent engine: random puts, deletes, gets and range scans
//! compared with a BTreeMap, with the database closed and reopened in the middle of the
//! sequence (as fjall's own recovery tests reopen the store). Restoration's batched writes
//! (`restore_batch`, one fjall write batch) are among the operations.

use kstreams::internals::{FjallDatabase, FjallStore};
use kstreams::runtime::TaskId;
use kstreams::state::{KeyValueBytesStore, MemoryBudget, RestoreBatch};
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fjall_store_behaves_like_an_ordered_map_across_reopens(ops in prop::collection::vec(op(), 1..120)) {
        let dir = fresh_dir();
        let mut store = open(&dir);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    store.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
                Op::Delete(k) => prop_assert_eq!(store.delete(&k).unwrap(), model.remove(&k)),
                Op::Get(k) => prop_assert_eq!(store.get(&k).unwrap(), model.get(&k).cloned()),
                Op::Range(a, b) => {
                    let lo = a.as_deref().map_or(Bound::Unbounded, Bound::Included);
                    let hi = b.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                    let inverted = matches!((&a, &b), (Some(a), Some(b)) if a >= b);
                    let got: Vec<_> = if inverted {
                        Vec::new()
                    } else {
                        store.range(lo, hi).map(|kv| kv.unwrap()).collect()
                    };
                    let want: Vec<_> = model
                        .iter()
                        .filter(|(k, _)| a.as_ref().is_none_or(|a| *k >= a) && b.as_ref().is_none_or(|b| *k < b))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    prop_assert_eq!(got, want);
                }
                Op::Restore(writes) => {
                    let mut batch = RestoreBatch::default();
                    for (k, v) in &writes {
                        batch.push(&[k], v.as_deref().map(|v| [v]).as_ref().map(|v| &v[..]));
                        match v {
                            Some(v) => model.insert(k.clone(), v.clone()),
                            None => model.remove(k),
                        };
                    }
                    store.restore_batch(&batch).unwrap();
                }
                Op::Reopen => {
                    store.flush().unwrap();
                    drop(store);
                    store = open(&dir);
                }
            }
        }
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
