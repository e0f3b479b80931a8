//! The broker every system runs against: Tansu with its memory engine on 127.0.0.1, a
//! fresh one for every run so that no run inherits another's data.

use super::process::Measured;
use super::BenchError;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The `cargo install` arguments `.ci/run` uses too.
const INSTALL: [&str; 5] = [
    "install",
    "tansu",
    "--locked",
    "--features",
    "dynostore,libsql",
];

/// A running Tansu broker; stopped on drop.
pub struct Tansu {
    process: Option<Measured>,
    bootstrap: String,
}

impl Tansu {
    /// The `tansu` binary: on `PATH`, else in `~/.cargo/bin`, else installed there with
    /// cargo (about ten minutes on two cores, once per machine).
    pub fn binary() -> Result<PathBuf, BenchError> {
        if let Some(found) = find_on_path("tansu") {
            return Ok(found);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let cargo_bin = home.map(|h| h.join(".cargo/bin/tansu"));
        if let Some(b) = cargo_bin.as_ref().filter(|b| b.is_file()) {
            return Ok(b.clone());
        }
        eprintln!("tansu not found; running `cargo {}`", INSTALL.join(" "));
        let status =
            Command::new("cargo")
                .args(INSTALL)
                .status()
                .map_err(|e| BenchError::Install {
                    what: "tansu".into(),
                    reason: e.to_string(),
                })?;
        match cargo_bin {
            Some(b) if status.success() && b.is_file() => Ok(b),
            _ => Err(BenchError::Install {
                what: "tansu".into(),
                reason: format!("cargo install exited with {status}"),
            }),
        }
    }

    /// `tansu --version`.
    pub fn version(binary: &Path) -> String {
        Command::new(binary)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    /// Starts a broker on a free port of 127.0.0.1 with the memory engine, logging into
    /// `dir`, and waits until it accepts connections.
    pub fn start(binary: &Path, dir: &Path) -> Result<Tansu, BenchError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BenchError::io(Path::new("127.0.0.1:0"), e))?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(binary);
        cmd.current_dir(dir).args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ]);
        let process = Measured::spawn("tansu", cmd, &dir.join("tansu.log"))?;
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&addr).is_err() {
            if !process.running() || Instant::now() >= deadline {
                return Err(BenchError::Broker(format!(
                    "tansu did not start on {addr}:\n{}",
                    process.log_tail(20)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Tansu {
            process: Some(process),
            bootstrap: addr,
        })
    }

    /// `host:port` to bootstrap from.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The broker process, for CPU samples.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Measured::pid)
    }

    /// Stops the broker and returns its whole-life CPU and peak RSS.
    pub fn stop(mut self) -> Result<super::process::Exit, BenchError> {
        match self.process.take() {
            Some(p) => p.stop(Duration::from_secs(10)),
            None => Err(BenchError::Broker("already stopped".into())),
        }
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
