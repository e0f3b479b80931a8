//! The folds behind `count`, `reduce` and `aggregate`, shared by grouped and windowed
//! streams: `fold(key, value, current)`, where `current` is `None` for a new key or window.

/// `count`: one more.
pub(crate) fn count<K, V>() -> impl Fn(&K, V, Option<i64>) -> i64 + Send + Sync + 'static {
    |_: &K, _: V, current: Option<i64>| current.unwrap_or(0) + 1
}

/// `reduce`: the first value, then `reducer(aggregate, value)`.
pub(crate) fn reduce<K, V, F>(reducer: F) -> impl Fn(&K, V, Option<V>) -> V + Send + Sync + 'static
where
    F: Fn(V, V) -> V + Send + Sync + 'static,
{
    move |_: &K, v: V, current: Option<V>| match current {
        Some(agg) => reducer(agg, v),
        None => v,
    }
}

/// `aggregate`: `aggregator(key, value, aggregate)` from `initializer()`.
pub(crate) fn aggregate<K, V, VA, I, F>(
    initializer: I,
    aggregator: F,
) -> impl Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static
where
    I: Fn() -> VA + Send + Sync + 'static,
    F: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
{
    move |k: &K, v: V, current: Option<VA>| aggregator(k, v, current.unwrap_or_else(&initializer))
}
