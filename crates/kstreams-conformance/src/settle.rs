//! Knowing when an application is done: its committed offsets have reached the end of every
//! partition it reads (repartition and subscription topics included) and its output has
//! been quiet for a while.

use crate::broker;
use crate::Error;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long an application's output must not grow once it has caught up.
const QUIET: Duration = Duration::from_secs(2);

/// One application to wait for.
#[derive(Debug, Clone)]
pub struct App {
    /// Its application id, the consumer group.
    pub group: String,
    /// The full names of the input topics it reads.
    pub inputs: Vec<String>,
    /// Its output topic.
    pub output: String,
}

#[derive(Default)]
struct Progress {
    output_end: i64,
    changed: Option<Instant>,
    lag: String,
}

/// Waits until every app has settled, or `timeout`. `failed` names apps known to have
/// failed (they are not waited for). Returns, per group, `Ok` or why it did not settle.
pub fn wait(
    bootstrap: &str,
    apps: &[App],
    timeout: Duration,
    failed: &dyn Fn(&App) -> Option<String>,
) -> Result<BTreeMap<String, Result<(), String>>, Error> {
    let consumer = broker::reader(bootstrap, "conformance-settle")?;
    let deadline = Instant::now() + timeout;
    let mut done: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    let mut progress: BTreeMap<String, Progress> = BTreeMap::new();
    while done.len() < apps.len() {
        let topics = broker::topics(&consumer)?;
        for app in apps {
            if done.contains_key(&app.group) {
                continue;
            }
            if let Some(reason) = failed(app) {
                done.insert(app.group.clone(), Err(reason));
                continue;
            }
            let internal = format!("{}-", app.group);
            let read: Vec<(String, i32)> = topics
                .iter()
                .filter(|(t, _)| {
                    app.inputs.contains(t)
                        || (t.starts_with(&internal) && !t.ends_with("-changelog"))
                })
                .map(|(t, n)| (t.clone(), *n))
                .collect();
            let committed = broker::committed(bootstrap, &app.group, &read)?;
            let mut behind = Vec::new();
            for (t, n) in &read {
                for (p, end) in broker::end_offsets(&consumer, t, *n)?
                    .into_iter()
                    .enumerate()
                {
                    let at = committed
                        .get(&(t.clone(), p as i32))
                        .and_then(|(o, _)| *o)
                        .unwrap_or(0);
                    if at < end {
                        behind.push(format!("{t}-{p} at {at} of {end}"));
                    }
                }
            }
            let out_n = topics.get(&app.output).copied().unwrap_or(0);
            let output_end: i64 = broker::end_offsets(&consumer, &app.output, out_n)?
                .iter()
                .sum();
            let p = progress.entry(app.group.clone()).or_default();
            if output_end != p.output_end || p.changed.is_none() {
                p.output_end = output_end;
                p.changed = Some(Instant::now());
            }
            p.lag = behind.join(", ");
            let quiet = p.changed.is_some_and(|c| c.elapsed() >= QUIET);
            if behind.is_empty() && quiet {
                done.insert(app.group.clone(), Ok(()));
            }
        }
        if Instant::now() > deadline {
            for app in apps {
                let lag = progress
                    .get(&app.group)
                    .map(|p| p.lag.clone())
                    .unwrap_or_default();
                done.entry(app.group.clone())
                    .or_insert_with(|| Err(format!("did not catch up in {timeout:?}: {lag}")));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(done)
}
