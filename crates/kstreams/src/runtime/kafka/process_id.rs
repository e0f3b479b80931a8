//! The instance's process id, kept in its state directory like Kafka Streams'
//! `kafka-streams-process-metadata`.
//!
//! Exactly-once names each thread's transactional producer after it. Keeping it across
//! restarts is what fences zombies: an instance restarted on the same state directory
//! takes the same transactional ids, so the broker fences the old process if it is
//! still alive, while instances on other state directories never fence each other.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const FILE: &str = "kafka-streams-process-metadata";

#[derive(serde::Serialize, serde::Deserialize)]
struct Metadata {
    #[serde(rename = "processId")]
    process_id: String,
}

fn random_hex() -> String {
    // Two independently seeded hashers of the time and pid: unique enough for an id that
    // only has to differ between instances of one application.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut parts = [0u64; 2];
    for part in &mut parts {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        *part = h.finish();
    }
    let hex = format!("{:016x}{:016x}", parts[0], parts[1]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The process id stored under `app_dir`, created there on first use.
pub(crate) fn load_or_create(app_dir: &Path) -> std::io::Result<String> {
    let path = app_dir.join(FILE);
    if let Ok(text) = super::private_files::read_to_string(&path) {
        match serde_json::from_str::<Metadata>(&text) {
            Ok(m) if !m.process_id.is_empty() => return Ok(m.process_id),
            _ => tracing::warn!("{} is unreadable; writing a new process id", path.display()),
        }
    }
    super::private_files::ensure_private_dir(app_dir)?;
    let id = random_hex();
    let json = serde_json::to_string(&Metadata {
        process_id: id.clone(),
    })
    .map_err(std::io::Error::other)?;
    super::private_files::write_atomically(app_dir, FILE, json.as_bytes())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_survives_a_restart_and_differs_between_directories() {
        let base = std::env::temp_dir().join(format!("kstreams-pid-{}", random_hex()));
        let a = load_or_create(&base.join("a")).unwrap();
        assert_eq!(load_or_create(&base.join("a")).unwrap(), a);
        let b = load_or_create(&base.join("b")).unwrap();
        assert_ne!(a, b);
        std::fs::write(base.join("a").join(FILE), "not json").unwrap();
        let c = load_or_create(&base.join("a")).unwrap();
        assert_ne!(c, a, "a corrupt file gets a new id");
        assert_eq!(load_or_create(&base.join("a")).unwrap(), c);
        let _ = std::fs::remove_dir_all(base);
    }
}
