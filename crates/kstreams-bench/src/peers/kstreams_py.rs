//! kstreams' Python package in a virtual environment of its own, built from this
//! repository (`pip install crates/kstreams-py`, a release build) once per invocation.

use super::quix::run;
use super::BenchError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The worker script, kept beside this crate.
pub fn worker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kstreams_py/worker.py")
}

/// The Python of a virtual environment at `venv` with the repository's kstreams package
/// freshly installed into it (created if missing).
pub fn ensure_venv(venv: &Path) -> Result<PathBuf, BenchError> {
    let python = venv.join("bin/python");
    let fail = |reason: String| BenchError::Install {
        what: format!("kstreams (crates/kstreams-py) into {}", venv.display()),
        reason,
    };
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(venv)).map_err(fail)?;
    }
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kstreams-py");
    eprintln!(
        "installing kstreams (Python) from {} into {}",
        package.display(),
        venv.display()
    );
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--force-reinstall",
            "--no-deps",
        ])
        .arg(&package))
    .map_err(fail)?;
    Ok(python)
}
