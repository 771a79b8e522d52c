//! The delivery ceiling: a bare hyper client posting to a bare server that
//! answers 200 at once, as fast as a fixed number of requests in flight allows.
//!
//! It is what delivering would cost on this machine if the router did nothing
//! but send (no store, no lanes, no signing), so `fanout`'s deliveries per
//! second can be read as a share of it, as ingest is read against the bare
//! server of [`super::ceiling`]. The two sides sit where they sit in `fanout`:
//! the client is a process of its own, this binary started as `bench
//! --delivery-ceiling-client`, with its own runtime of one worker per core, as
//! the router is; the server runs in the harness, as the receiver does. The
//! client is the router's kind (hyper-util's pooled client, keep-alive,
//! `TCP_NODELAY`, the same idle timeout) without the TLS wrapper and the SSRF
//! resolver, which plain loopback HTTP passes through; its posts carry a body
//! of the size of `fanout`'s deliveries and headers of the size of the
//! signature headers. The client prints one JSON line, what it measured, and
//! stops early if its stdin closes, so it never outlives the harness.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use super::ceiling::serve_bare;
use super::load::{LoadStats, second_histogram};
use super::process::Child;
use super::report::{Latency, Phase};

/// How long one post may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the client measured: its one line of output.
#[derive(Serialize, Deserialize)]
struct Posted {
    /// Posts answered 200.
    answered: u64,
    /// Posts answered otherwise, or not at all.
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
    /// From each post to its whole answer.
    round_trip: Option<Latency>,
}

/// Measures the ceiling: `concurrency` posts of `body_bytes` in flight for
/// `duration`, from `exe bench --delivery-ceiling-client` to a bare server here.
pub async fn measure(
    exe: &Path,
    concurrency: u32,
    duration: Duration,
    body_bytes: usize,
) -> anyhow::Result<Phase> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind a loopback port")?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve_bare(listener, StatusCode::OK, ""));
    let measured = client(exe, addr, concurrency, duration, body_bytes).await;
    server.abort();
    let posted = measured?;
    if posted.answered == 0 || posted.errors > 0 {
        bail!(
            "the delivery ceiling's client had {} post(s) answered and {} failed (first: {})",
            posted.answered,
            posted.errors,
            posted.first_error.as_deref().unwrap_or("none")
        );
    }
    let name = format!("{concurrency} in flight, {body_bytes}-byte bodies");
    let seconds = posted.seconds.max(1e-9);
    let mut phase = Phase::of(name, &LoadStats::idle(Duration::from_secs_f64(seconds)));
    phase.delivered = Some(posted.answered);
    phase.deliveries_per_s = Some(posted.answered as f64 / seconds);
    phase.round_trip = posted.round_trip;
    Ok(phase)
}

/// Runs the client process to its end and reads what it measured.
async fn client(
    exe: &Path,
    addr: SocketAddr,
    concurrency: u32,
    duration: Duration,
    body_bytes: usize,
) -> anyhow::Result<Posted> {
    let mut command = Command::new(exe);
    command
        .arg("bench")
        .args(["--delivery-ceiling-client", &addr.to_string()])
        .args(["--posts-in-flight", &concurrency.to_string()])
        .args(["--duration", &format!("{}ms", duration.as_millis())])
        .args(["--body-bytes", &body_bytes.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = Child::spawn(command, "the delivery ceiling's client")?;
    // Its start (a debug build is slow to start) and its stop, besides the load.
    let line = child.first_line(duration + Duration::from_secs(60)).await?;
    let status = child.stop().await?;
    serde_json::from_str(&line).with_context(|| {
        format!("the delivery ceiling's client ({status}) said {line:?}, not its figures")
    })
}

/// `switchyard bench --delivery-ceiling-client ADDR`: posts to `addr` with
/// `concurrency` posts in flight for `duration`, then prints what it measured.
pub fn post(
    addr: SocketAddr,
    concurrency: u32,
    duration: Duration,
    body_bytes: usize,
) -> anyhow::Result<()> {
    // The harness holds our stdin: when it closes it, or dies, we stop.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let posted = runtime.block_on(posts(addr, concurrency, duration, body_bytes))?;
    say!("{}", serde_json::to_string(&posted)?);
    Ok(())
}

async fn posts(
    addr: SocketAddr,
    concurrency: u32,
    duration: Duration,
    body_bytes: usize,
) -> anyhow::Result<Posted> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    // As the router's delivery client builds its own (src/delivery/client.rs).
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(http);
    let body = Bytes::from(filler(body_bytes));
    let uri: Arc<str> = Arc::from(format!("http://{addr}/ceiling"));
    let start = Instant::now();
    let end = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, body, uri) = (client.clone(), body.clone(), uri.clone());
            tokio::spawn(async move { poster(&client, &uri, &body, end).await })
        })
        .collect();
    let mut posted = Posted {
        answered: 0,
        errors: 0,
        first_error: None,
        seconds: 0.0,
        round_trip: None,
    };
    let mut round_trip = second_histogram();
    for task in tasks {
        let one = task.await.context("a poster panicked")?;
        posted.answered += one.answered;
        posted.errors += one.errors;
        posted.first_error = posted.first_error.or(one.first_error);
        // Same bounds on both sides: adding cannot fail.
        let _ = round_trip.add(&one.round_trip);
    }
    posted.seconds = start.elapsed().as_secs_f64();
    posted.round_trip = Latency::of(&round_trip);
    Ok(posted)
}

/// One poster's share.
struct Share {
    answered: u64,
    errors: u64,
    first_error: Option<String>,
    /// Two significant figures, as a second of the load keeps: one histogram
    /// per poster, and there may be a thousand.
    round_trip: Histogram<u64>,
}

/// Posts one after the other until `end`.
async fn poster(
    client: &Client<HttpConnector, Full<Bytes>>,
    uri: &str,
    body: &Bytes,
    end: Instant,
) -> Share {
    let mut share = Share {
        answered: 0,
        errors: 0,
        first_error: None,
        round_trip: second_histogram(),
    };
    while Instant::now() < end {
        let sent = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, post_one(client, uri, body)).await;
        match outcome {
            Ok(Ok(StatusCode::OK)) => {
                share.answered += 1;
                let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                share.round_trip.saturating_record(us.max(1));
                continue;
            }
            Ok(Ok(status)) => share.note(format!("HTTP {status}")),
            Ok(Err(e)) => share.note(format!("{e:#}")),
            Err(_) => share.note(format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    share
}

impl Share {
    fn note(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }
}

/// One post, its answer read to the end, as the router reads one.
async fn post_one(
    client: &Client<HttpConnector, Full<Bytes>>,
    uri: &str,
    body: &Bytes,
) -> anyhow::Result<StatusCode> {
    // Headers of the size of what the router sends: its user agent and the
    // Standard Webhooks trio (a delivery id, a timestamp, one signature).
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, "application/json")
        .header(
            USER_AGENT,
            concat!("switchyard/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", "dlv_0192f3a4b5c6d7e8f90a1b2c3d4e5f60")
        .header("webhook-timestamp", "1795000000")
        .header(
            "webhook-signature",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        )
        .body(Full::new(body.clone()))?;
    let response = client.request(request).await.context("the post failed")?;
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .context("the answer's body broke off")?;
    Ok(status)
}

/// A JSON object of exactly `bytes` bytes (at least its shortest, 10).
fn filler(bytes: usize) -> String {
    const OPEN: &str = r#"{"pad":""#;
    const CLOSE: &str = r#""}"#;
    let pad = bytes.saturating_sub(OPEN.len() + CLOSE.len());
    format!("{OPEN}{}{CLOSE}", "x".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filler_is_as_long_as_asked() {
        assert_eq!(filler(400).len(), 400);
        assert!(serde_json::from_str::<serde_json::Value>(&filler(400)).is_ok());
    }
}
