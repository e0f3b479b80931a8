//! A process measured from outside: CPU time from `/proc/<pid>/stat` while it runs, peak
//! RSS from `/proc/<pid>/status` (`VmHWM`) until it ends, total CPU from `wait4`. The
//! same measurement for a Rust binary, a Python interpreter and the broker, so no system
//! reports on itself.
//!
//! Not `wait4`'s `ru_maxrss`: Linux carries the parent's resident set at fork over the
//! exec into the child's figure, so every child of a driver holding its input in memory
//! would report at least the driver's size.

use super::BenchError;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process with its output going to a log file.
pub struct Measured {
    name: String,
    child: Child,
    log: PathBuf,
    reaped: bool,
}

/// What `wait4` reported for a process that ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// User plus system CPU over the whole life of the process, seconds.
    pub cpu_seconds: f64,
    /// Peak resident set size (`VmHWM`) at the last reading before the process ended,
    /// MiB.
    pub peak_rss_mib: f64,
    /// Whether it ended by the SIGTERM it was sent (or exited 0).
    pub clean: bool,
}

impl Measured {
    /// Starts `cmd` with stdout and stderr in `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Measured, BenchError> {
        let out = File::create(log).map_err(|e| BenchError::io(log, e))?;
        let err = out.try_clone().map_err(|e| BenchError::io(log, e))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| BenchError::Spawn {
                what: name.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Measured {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            reaped: false,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU so far, seconds, or `None` once the process is gone.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(self.pid())
    }

    /// Whether the process still runs (a zombie does not).
    pub fn running(&self) -> bool {
        if self.reaped {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) {
            Ok(stat) => stat_fields(&stat).is_some_and(|f| f.first() != Some(&"Z")),
            Err(_) => false,
        }
    }

    /// The last `lines` lines of its log, for error reports.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Peak resident set size so far, MiB, or `None` once the process is gone.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// Sends SIGTERM, waits up to `grace` for a graceful exit (then SIGKILL), and reaps it.
    pub fn stop(mut self, grace: Duration) -> Result<Exit, BenchError> {
        let pid = self.pid() as libc::pid_t;
        let mut peak = self.peak_rss_mib().unwrap_or(0.0);
        // SAFETY: kill only sends a signal to our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        loop {
            // Shutting down may allocate too (a final flush, a commit).
            peak = peak.max(self.peak_rss_mib().unwrap_or(0.0));
            if let Some(exit) = self.try_reap(pid)? {
                return Ok(Exit {
                    peak_rss_mib: peak,
                    ..exit
                });
            }
            if Instant::now() >= deadline {
                tracing::warn!("{} did not stop within {grace:?}; killing it", self.name);
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let exit = loop {
                    if let Some(e) = self.try_reap(pid)? {
                        break e;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                };
                return Ok(Exit {
                    clean: false,
                    peak_rss_mib: peak,
                    ..exit
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_reap(&mut self, pid: libc::pid_t) -> Result<Option<Exit>, BenchError> {
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pid of our child, valid pointers, WNOHANG.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == 0 {
            return Ok(None);
        }
        if r < 0 {
            return Err(BenchError::Spawn {
                what: self.name.clone(),
                reason: format!("wait4: {}", std::io::Error::last_os_error()),
            });
        }
        self.reaped = true;
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let clean = (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
            || (libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGTERM)
            // Python exits 143 (128 + SIGTERM) from some signal paths, and so does the JVM
            // once its shutdown hooks have run.
            || (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 143);
        Ok(Some(Exit {
            cpu_seconds: tv(usage.ru_utime) + tv(usage.ru_stime),
            peak_rss_mib: 0.0,
            clean,
        }))
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The fields of `/proc/<pid>/stat` after the command name, which may hold spaces.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

/// User plus system CPU of every thread of `pid` so far, seconds.
pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f = stat_fields(&stat)?;
    // After the name: state(0) ... utime(11) stime(12), in clock ticks.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / ticks.max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_of_a_busy_child_grows_and_its_peak_rss_is_reported() {
        let dir = std::env::temp_dir().join(format!("peers-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        // The parent holds 256 MiB when it forks: none of it may count for the child.
        let ballast = vec![1u8; 256 << 20];
        // Burns CPU and holds about 64 MiB until it is told to stop.
        let mut cmd = Command::new("python3");
        cmd.args([
            "-c",
            "b = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nwhile True: pass",
        ]);
        let p = Measured::spawn("burner", cmd, &dir.join("burner.log")).expect("spawn");
        assert!(p.running());
        // However loaded the machine, a busy loop's CPU time keeps growing. Both are
        // awaited: `python3` may be a pyenv shim whose scripts use CPU in this process
        // before it execs Python, which then starts touching its 64 MiB.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut cpu, mut peak) = (0.0, 0.0);
        while (cpu < 0.2 || peak <= 64.0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            cpu = p.cpu_seconds().expect("cpu while running");
            peak = p.peak_rss_mib().expect("peak while running");
        }
        assert!(cpu >= 0.2, "a busy loop used only {cpu} s of CPU in 30 s");
        assert!(
            peak > 64.0,
            "peak RSS {peak} MiB after 30 s with 64 MiB touched"
        );
        let exit = p.stop(Duration::from_secs(5)).expect("stop");
        assert!(exit.clean, "SIGTERM ends python");
        assert!(exit.cpu_seconds >= cpu);
        assert!(exit.peak_rss_mib >= peak, "peak RSS {}", exit.peak_rss_mib);
        assert!(
            exit.peak_rss_mib < 200.0,
            "peak RSS {} MiB counts the parent's {} MiB",
            exit.peak_rss_mib,
            ballast.len() >> 20
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stat_fields_skip_a_command_name_with_spaces() {
        let f = stat_fields("42 (a b) S 1 2 3").expect("fields");
        assert_eq!(f, ["S", "1", "2", "3"]);
    }
}
