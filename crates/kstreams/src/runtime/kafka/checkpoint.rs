//! Checkpoint files: how far each changelog partition is already in a persistent store.
//!
//! `<state.dir>/<application.id>/<task>/.checkpoint`, in Kafka Streams' text layout: a
//! version line (`0`), a count line, then `topic partition offset` per line. Written on
//! every commit after the stores and the producer are flushed, read when the task is
//! assigned again: restoration starts there instead of at the beginning. A missing or
//! unreadable file means the store is wiped and restored in full.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Changelog offsets per (topic, partition): the next offset to restore from.
pub(crate) type Offsets = HashMap<(String, i32), i64>;

pub(crate) fn path(task_dir: &Path) -> PathBuf {
    task_dir.join(".checkpoint")
}

/// Why a checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    #[error("no checkpoint")]
    Missing,
    #[error("corrupt checkpoint {path}: {reason}")]
    Corrupt { path: String, reason: String },
}

pub(crate) fn read(task_dir: &Path) -> Result<Offsets, CheckpointError> {
    let file = path(task_dir);
    let text = match super::private_files::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CheckpointError::Missing),
        Err(e) => {
            return Err(CheckpointError::Corrupt {
                path: file.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    parse(&text).map_err(|reason| CheckpointError::Corrupt {
        path: file.display().to_string(),
        reason,
    })
}

pub(crate) fn parse(text: &str) -> Result<Offsets, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        other => return Err(format!("unknown version {other:?}")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("missing entry count")?;
    let mut out = HashMap::new();
    for line in lines.by_ref().take(count) {
        let mut parts = line.split_whitespace();
        let (Some(topic), Some(partition), Some(offset), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("bad entry {line:?}"));
        };
        let partition: i32 = partition
            .parse()
            .map_err(|_| format!("bad partition in {line:?}"))?;
        let offset: i64 = offset
            .parse()
            .map_err(|_| format!("bad offset in {line:?}"))?;
        if offset < 0 {
            return Err(format!("negative offset in {line:?}"));
        }
        out.insert((topic.to_string(), partition), offset);
    }
    if out.len() != count || lines.next().is_some() {
        return Err(format!("expected {count} entries"));
    }
    Ok(out)
}

/// Writes the file atomically (a crash leaves the old file or the new one, never half) and
/// privately, never through a link.
pub(crate) fn write(task_dir: &Path, offsets: &Offsets) -> std::io::Result<()> {
    super::private_files::ensure_private_dir(task_dir)?;
    let mut entries: Vec<_> = offsets.iter().collect();
    entries.sort();
    let mut text = Vec::new();
    writeln!(text, "0")?;
    writeln!(text, "{}", entries.len())?;
    for ((topic, partition), offset) in entries {
        writeln!(text, "{topic} {partition} {offset}")?;
    }
    super::private_files::write_atomically(task_dir, ".checkpoint", &text)
}

/// Removes the file, so that a store wiped now is not trusted later.
pub(crate) fn remove(task_dir: &Path) {
    let _ = std::fs::remove_file(path(task_dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_corruption() {
        let dir = std::env::temp_dir().join(format!("kstreams-checkpoint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(read(&dir), Err(CheckpointError::Missing)));
        let offsets = HashMap::from([
            (("app-s-changelog".to_string(), 3), 42),
            (("app-t-changelog".to_string(), 3), 0),
        ]);
        write(&dir, &offsets).unwrap();
        assert_eq!(read(&dir).unwrap(), offsets);
        for bad in [
            "",
            "1\n0\n",
            "0\n2\napp-s-changelog 3 42\n",
            "0\n1\nx y z\n",
            "0\n1\nt 1 -5\n",
            "0\n1\nt 1 5 extra\n",
        ] {
            std::fs::write(path(&dir), bad).unwrap();
            assert!(
                matches!(read(&dir), Err(CheckpointError::Corrupt { .. })),
                "{bad:?}"
            );
        }
        remove(&dir);
        assert!(matches!(read(&dir), Err(CheckpointError::Missing)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
