//! Remote interactive queries: a key this instance does not own is asked of the instance
//! that does, found in the status [`Directory`] (Kafka Streams' `queryMetadataForKey`,
//! then a call to the owner, which Kafka Streams leaves to the user).
//!
//! The owner answers from its own copy only (the request says it was forwarded), so a
//! query is never forwarded twice, and an owner that lost the task in a rebalance since
//! it published says so instead of answering from a copy it no longer keeps.

use super::status::Directory;
use crate::runtime::kafka::inspect::{Inspector, QueryError};
use std::time::Duration;

/// The header that marks a forwarded query: answer locally or not at all.
pub(crate) const FORWARDED: &str = "kstreams-forwarded";

/// How long a forwarded query may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The value of `key` in `store`, from whichever instance owns it.
pub(crate) fn query_key(
    inspector: &Inspector,
    directory: &Directory,
    own_id: &str,
    store: &str,
    key: &str,
) -> Result<Option<serde_json::Value>, QueryError> {
    let task = match inspector.query_json(store, key) {
        Err(QueryError::NotHosted { task, .. }) => task,
        answered => return answered,
    };
    let wanted = task.to_string();
    // During a move both the old and the new owner may list the task as ready: the
    // freshest first, and the next when one says it no longer has it.
    let mut owners: Vec<(String, String, i64)> = directory
        .instances()
        .into_iter()
        .filter(|i| !i.stale && i.instance_id != own_id && i.ready_tasks().any(|t| t == wanted))
        .filter_map(|i| Some((i.instance_id, i.http_address?, i.updated_ms)))
        .collect();
    owners.sort_by_key(|(_, _, updated)| std::cmp::Reverse(*updated));
    let mut last = QueryError::Rebalancing {
        store: store.to_string(),
        task,
    };
    for (instance, address, _) in owners {
        match ask(store, key, task, &instance, &address) {
            Err(e @ (QueryError::Rebalancing { .. } | QueryError::Remote { .. })) => last = e,
            answered => return answered,
        }
    }
    Err(last)
}

/// Asks instance `instance` at `address` for `key`, to answer from its own copy.
fn ask(
    store: &str,
    key: &str,
    task: crate::runtime::TaskId,
    instance: &str,
    address: &str,
) -> Result<Option<serde_json::Value>, QueryError> {
    let remote = |reason: String| QueryError::Remote {
        store: store.to_string(),
        instance: instance.to_string(),
        address: address.to_string(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let url = format!("http://{address}/stores/{}/{}", encode(store), encode(key));
    let mut response = agent
        .get(&url)
        .header(FORWARDED, "1")
        .call()
        .map_err(|e| remote(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| remote(format!("answer {status}: {e}")))?;
    let body: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| remote(format!("answer {status}, not JSON: {e}: {body}")))?;
    match (status, body["code"].as_str()) {
        (200, _) => Ok(Some(body["value"].clone())),
        (404, Some("NO_VALUE")) => Ok(None),
        // It lost the task since it published: the move is under way.
        (421, _) => Err(QueryError::Rebalancing {
            store: store.to_string(),
            task,
        }),
        (503, _) => Err(QueryError::Unavailable {
            store: store.to_string(),
            task: Some(task),
            reason: "not queryable yet on its owner (restoring or starting)",
        }),
        _ => Err(remote(format!("answer {status}: {body}"))),
    }
}

/// Every byte but RFC 3986's unreserved characters is escaped in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(super::encode("a b/ç~"), "a%20b%2F%C3%A7~");
    }
}
