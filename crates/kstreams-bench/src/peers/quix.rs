//! Quix Streams in a Python virtual environment of its own, created on first use.

use super::BenchError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Quix Streams release measured; pinned so that runs compare like with like.
pub const QUIX_VERSION: &str = "3.28.1";

/// The worker script, kept beside this crate.
pub fn worker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("quix/worker.py")
}

/// The Python of a virtual environment at `venv` holding Quix Streams
/// [`QUIX_VERSION`]; creates it (`python3 -m venv`, then `pip install`) if missing.
pub fn ensure_venv(venv: &Path) -> Result<PathBuf, BenchError> {
    let python = venv.join("bin/python");
    if installed_version(&python).as_deref() == Some(QUIX_VERSION) {
        return Ok(python);
    }
    let fail = |reason: String| BenchError::Install {
        what: format!("quixstreams=={QUIX_VERSION} into {}", venv.display()),
        reason,
    };
    eprintln!(
        "installing quixstreams=={QUIX_VERSION} into {}",
        venv.display()
    );
    run(Command::new("python3").arg("-m").arg("venv").arg(venv)).map_err(fail)?;
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        &format!("quixstreams=={QUIX_VERSION}"),
    ]))
    .map_err(fail)?;
    match installed_version(&python) {
        Some(v) if v == QUIX_VERSION => Ok(python),
        other => Err(fail(format!("after install, import gives {other:?}"))),
    }
}

/// Quix Streams, confluent-kafka and the librdkafka under it, as the venv reports them.
pub fn versions(python: &Path) -> String {
    let script = "import quixstreams, confluent_kafka; \
                  print('quixstreams', quixstreams.__version__, '/ confluent-kafka', \
                  confluent_kafka.__version__, '/ librdkafka', confluent_kafka.libversion()[0])";
    Command::new(python)
        .args(["-W", "ignore", "-c", script])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn installed_version(python: &Path) -> Option<String> {
    if !python.is_file() {
        return None;
    }
    let out = Command::new(python)
        .args([
            "-W",
            "ignore",
            "-c",
            "import quixstreams; print(quixstreams.__version__)",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `cmd` to completion; its failure as text.
pub(super) fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} exited with {status}"))
    }
}
