//! The processes the harness starts: the router under test, and the ceiling
//! server; how they are started, asked, measured and stopped.
//!
//! The router is this very binary run as `serve --config <file>`, so the figures
//! are those of the code beside them, started as an operator starts it. Its
//! addresses come from its JSON log (`ingest listening`, `admin API listening`:
//! the config asks for port 0), and it is ready when the admin API's `/readyz`
//! says so. It is stopped as an operator stops it, with SIGTERM, so that a
//! restart (the backlog scenario) finds the data file as a clean shutdown left
//! it. Peak memory is the kernel's own high-water mark of the process (`VmHWM`
//! in `/proc/<pid>/status`), read before the process goes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;

use super::config::ADMIN_TOKEN;
use super::load::call;

/// How long a router may take to start: plugins compile at the first start of a
/// data directory, and a debug build compiles slowly.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a process may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines kept to explain a router that failed.
const TAIL: usize = 30;

/// A child process that is killed if the harness lets go of it still running.
pub struct Child {
    inner: std::process::Child,
    what: &'static str,
}

impl Child {
    pub fn spawn(mut command: Command, what: &'static str) -> anyhow::Result<Self> {
        let inner = command
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        Ok(Self { inner, what })
    }

    /// The first line the process prints on its (piped) stdout, waited for up to
    /// `patience`: how the ceiling's server and client say they are ready, or
    /// what they measured.
    pub async fn first_line(&mut self, patience: Duration) -> anyhow::Result<String> {
        let what = self.what;
        let stdout =
            (self.inner.stdout.take()).with_context(|| format!("{what} has no stdout pipe"))?;
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        tokio::time::timeout(patience, line)
            .await
            .with_context(|| format!("{what} said nothing within {patience:?}"))?
            .with_context(|| format!("the reader of {what} failed"))?
            .with_context(|| format!("cannot read {what}'s output"))
    }

    /// The peak resident memory of the process so far, in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        self.status_kib("VmHWM:").map(|kib| kib * 1024)
    }

    /// The resident memory of the process now, in bytes.
    pub fn rss(&self) -> Option<u64> {
        self.status_kib("VmRSS:").map(|kib| kib * 1024)
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.inner.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Whether it has exited, and how.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.inner.try_wait().ok().flatten()
    }

    /// Closes its stdin and sends SIGTERM; kills it if it has not exited within
    /// [`STOP_TIMEOUT`].
    pub async fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        drop(self.inner.stdin.take());
        if let Some(status) = self.exited() {
            return Ok(status);
        }
        // No signal crate in the build: `kill` is on every system this runs on.
        let _ = Command::new("kill")
            .args(["-TERM", &self.inner.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.inner.kill();
        let _ = self.inner.wait();
        bail!(
            "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM",
            self.what
        )
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.inner.kill();
            let _ = self.inner.wait();
        }
    }
}

/// A running `switchyard serve`.
pub struct Router {
    pub child: Child,
    pub ingest: SocketAddr,
    admin: SocketAddr,
    /// The last lines it logged.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Router {
    /// Starts `exe serve --config <config>` and waits until it is ready.
    pub async fn start(exe: &Path, config: &Path) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = Child::spawn(command, "the router")?;
        let stderr = (child.inner.stderr.take()).context("the router has no stderr pipe")?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL)));
        let (found, mut listening) = mpsc::unbounded_channel();
        let kept = tail.clone();
        // Read every line, so the pipe never fills and blocks the router's logging.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = found.send(address(&line));
                }
                let mut tail = kept.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut ingest, mut admin) = (None, None);
        let (ingest, admin) = loop {
            if let (Some(ingest), Some(admin)) = (ingest, admin) {
                break (ingest, admin);
            }
            if let Some(status) = child.exited() {
                bail!(
                    "the router exited ({status}) before it was ready; it logged:\n{}",
                    tail_text(&tail)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the router did not start within {START_TIMEOUT:?}; it logged:\n{}",
                    tail_text(&tail)
                );
            }
            match tokio::time::timeout(Duration::from_millis(50), listening.recv()).await {
                Ok(Some(Some(("ingest listening", addr)))) => ingest = Some(addr),
                Ok(Some(Some(("admin API listening", addr)))) => admin = Some(addr),
                _ => {}
            }
        };
        let router = Self {
            child,
            ingest,
            admin,
            tail,
        };
        router.ready(deadline).await?;
        Ok(router)
    }

    /// Waits until `/readyz` answers 200.
    async fn ready(&self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            if let Ok((StatusCode::OK, _)) = call(self.admin, Method::GET, "/readyz", None).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the router never answered /readyz with 200; it logged:\n{}",
                    tail_text(&self.tail)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET path` on the admin API, answered with JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.admin_call(Method::GET, path).await
    }

    /// `POST path` on the admin API, answered with JSON.
    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.admin_call(Method::POST, path).await
    }

    async fn admin_call(&self, method: Method, path: &str) -> anyhow::Result<Value> {
        let (status, body) = call(self.admin, method.clone(), path, Some(ADMIN_TOKEN)).await?;
        if !status.is_success() {
            bail!(
                "{method} {path} on the admin API answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("{method} {path} on the admin API did not answer JSON"))
    }

    /// Pending deliveries of `webhook`, as the admin API counts them.
    pub async fn pending(&self, webhook: &str) -> anyhow::Result<u64> {
        let answer = self.get(&format!("/v1/webhooks/{webhook}")).await?;
        answer["pending"]
            .as_u64()
            .context("the admin API's webhook has no pending count")
    }

    /// The sum of the Prometheus counter `name` over the series whose labels
    /// include `labels` (`outcome="accepted"`).
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a counter is a whole number, and `as` saturates"
    )]
    pub async fn counter(&self, name: &str, labels: &str) -> anyhow::Result<u64> {
        Ok(self.metric(name, labels).await? as u64)
    }

    /// The sum of the Prometheus series named `name` (a histogram's `_sum` or
    /// `_count` too) whose labels include `labels`.
    pub async fn metric(&self, name: &str, labels: &str) -> anyhow::Result<f64> {
        let (status, body) = call(self.admin, Method::GET, "/metrics", Some(ADMIN_TOKEN)).await?;
        if status != StatusCode::OK {
            bail!("GET /metrics answered {status}");
        }
        let text = String::from_utf8_lossy(&body);
        let named = |line: &&str| {
            let rest = line.strip_prefix(name).unwrap_or_default();
            line.starts_with(name) && (rest.starts_with('{') || rest.starts_with(' '))
        };
        let sum = text
            .lines()
            .filter(named)
            .filter(|line| line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        Ok(sum)
    }

    /// Its store's commits so far, from one read of its metrics.
    pub async fn commits(&self) -> anyhow::Result<Commits> {
        let (status, body) = call(self.admin, Method::GET, "/metrics", Some(ADMIN_TOKEN)).await?;
        if status != StatusCode::OK {
            bail!("GET /metrics answered {status}");
        }
        Ok(Commits::parse(&String::from_utf8_lossy(&body)))
    }

    /// Stops it with SIGTERM and checks that it exited cleanly.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = self.child.stop().await?;
        if !status.success() {
            bail!(
                "the router exited with {status} when stopped; it logged:\n{}",
                tail_text(&self.tail)
            );
        }
        Ok(())
    }
}

/// The message and address of a `... listening` JSON log line.
fn address(line: &str) -> Option<(&'static str, SocketAddr)> {
    let entry: Value = serde_json::from_str(line).ok()?;
    let addr = entry["addr"].as_str()?.parse().ok()?;
    match entry["message"].as_str()? {
        "ingest listening" => Some(("ingest listening", addr)),
        "admin API listening" => Some(("admin API listening", addr)),
        _ => None,
    }
}

fn tail_text(tail: &Mutex<VecDeque<String>>) -> String {
    let tail = tail.lock().unwrap_or_else(|e| e.into_inner());
    let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
    lines.join("\n")
}

/// The store's commits so far: how many, their total time, and the histogram's
/// buckets (upper bound in seconds, commits at or under it).
#[derive(Debug, Clone, Default)]
pub struct Commits {
    pub count: f64,
    pub seconds: f64,
    buckets: Vec<(f64, f64)>,
}

impl Commits {
    const FAMILY: &str = "switchyard_store_commit_duration_seconds";

    fn parse(text: &str) -> Self {
        let mut commits = Self::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(Self::FAMILY) else {
                continue;
            };
            let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse().ok()) else {
                continue;
            };
            if rest.starts_with("_count") {
                commits.count = value;
            } else if rest.starts_with("_sum") {
                commits.seconds = value;
            } else if let Some(le) = rest.strip_prefix("_bucket{le=\"")
                && let Some(bound) = le.split('"').next().and_then(|b| b.parse().ok())
            {
                commits.buckets.push((bound, value));
            }
        }
        commits
    }

    /// The commits made since `before`.
    pub fn since(&self, before: &Commits) -> Committed {
        let count = self.count - before.count;
        let ms = (self.seconds - before.seconds) * 1000.0;
        let slowest = (count > 0.0)
            .then(|| {
                self.buckets.iter().find_map(|&(bound, now)| {
                    let then = (before.buckets.iter())
                        .find(|(b, _)| *b == bound)
                        .map_or(0.0, |(_, v)| *v);
                    (now - then >= count).then_some(bound * 1000.0)
                })
            })
            .flatten();
        Committed {
            count,
            ms,
            slowest_under_ms: slowest,
        }
    }
}

/// The commits made between two reads of [`Commits`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Committed {
    pub count: f64,
    /// Their total time.
    pub ms: f64,
    /// The smallest histogram bucket bound that holds all of them: an upper
    /// bound on the slowest; none if there were none, or one outgrew every bucket.
    pub slowest_under_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::Commits;

    #[test]
    fn commits_between_two_reads_and_the_bucket_that_holds_the_slowest() {
        let read = |fast: u32, slow: u32| {
            let all = fast + slow;
            Commits::parse(&format!(
                "switchyard_store_commit_duration_seconds_sum {}\n\
                 switchyard_store_commit_duration_seconds_count {all}\n\
                 switchyard_store_commit_duration_seconds_bucket{{le=\"0.001\"}} {fast}\n\
                 switchyard_store_commit_duration_seconds_bucket{{le=\"0.064\"}} {all}\n\
                 switchyard_store_commit_duration_seconds_bucket{{le=\"+Inf\"}} {all}\n",
                f64::from(fast) * 0.0005 + f64::from(slow) * 0.05
            ))
        };
        let fast = read(12, 0).since(&read(10, 0));
        assert_eq!((fast.count, fast.slowest_under_ms), (2.0, Some(1.0)));
        assert!((fast.ms - 1.0).abs() < 1e-9);
        let slow = read(12, 1).since(&read(10, 0));
        assert_eq!((slow.count, slow.slowest_under_ms), (3.0, Some(64.0)));
        let none = read(12, 1).since(&read(12, 1));
        assert_eq!(
            (none.count, none.ms, none.slowest_under_ms),
            (0.0, 0.0, None)
        );
    }
}
