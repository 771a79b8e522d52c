//! The HTTP load generator: events posted over a fixed number of keep-alive
//! connections, either as fast as each answer comes back (closed loop, for
//! throughput) or on a fixed schedule (open loop, for latency).
//!
//! Each connection is a task of its own over hyper's HTTP/1 client connection,
//! not a pooled client, so "64 connections" is exactly 64 sockets, as a fleet of
//! senders would hold. At a fixed rate each connection owns an equal share of the
//! schedule, and an answer's latency is counted from when its request was due,
//! not when it went out: a router that stalls is charged for the requests that
//! queued behind the stall (no coordinated omission). The same time goes into the
//! event's `data.sent_us`, which the receiver reads back.
//!
//! Ack latencies are also kept per second of the load, by the second each answer
//! came in, so that a stall shows as the second it happened in, not only as a
//! phase's tail. Each connection fills its own histogram for the second under
//! way and adds it to the shared one when the second turns: one lock a second
//! per connection, none per request. A closed loop may be held back by credit
//! ([`Load::credit`]): a request goes out only with a permit, which whoever
//! watches the other end gives back (the receiver, as deliveries arrive), so a
//! scenario whose events outrun their deliveries keeps a bounded backlog.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::now_us;

/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A latency histogram in microseconds, from 1 µs to an hour.
pub fn histogram() -> Histogram<u64> {
    // Constant bounds that are valid (1 ≤ low, high ≥ 2 × low, 3 significant
    // figures), so creating it cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// A latency histogram for one second of load: two significant figures, which
/// is plenty for a second's p50, p99 and max, in a tenth of the memory (about
/// 27 KiB) of [`histogram`]'s three.
pub fn second_histogram() -> Histogram<u64> {
    // Constant, valid bounds, as above.
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

/// What the events look like.
#[derive(Clone)]
pub struct Events {
    /// Makes ids unique per router: `{prefix}-{seq}`.
    pub prefix: Arc<str>,
    /// 1 posts single events to `/v1/events`; more posts arrays of that many to
    /// `/v1/events/batch`.
    pub per_request: u64,
    /// `Some(n)`: types `type.0` to `type.{n-1}` in turn, so each is one in n;
    /// `None`: every event is `bench.event`.
    pub types: Option<u64>,
}

impl Events {
    pub fn path(&self) -> &'static str {
        if self.per_request > 1 {
            "/v1/events/batch"
        } else {
            "/v1/events"
        }
    }

    /// Events `seq..seq + count`, sent at `sent_us`: one object, or an array.
    pub fn body(&self, seq: u64, count: u64, sent_us: u64) -> Bytes {
        let mut body =
            String::with_capacity(usize::try_from(count).map_or(0, |n| n.saturating_mul(320)) + 2);
        let batch = self.per_request > 1;
        if batch {
            body.push('[');
        }
        for n in seq..seq + count {
            if n > seq {
                body.push(',');
            }
            let kind = match self.types {
                Some(types) => format!("type.{}", n % types),
                None => "bench.event".to_owned(),
            };
            // About 300 bytes: an order with a customer, as the README's example.
            body.push_str(&format!(
                r#"{{"id":"{}-{n}","type":"{kind}","data":{{"sent_us":{sent_us},"seq":{n},"email":"ada@example.com","amount":4200,"currency":"EUR","customer":{{"name":"Ada Lovelace","tier":"gold","country":"GB"}},"items":[{{"sku":"SKU-1042","qty":2,"price":1500}},{{"sku":"SKU-2210","qty":1,"price":1200}}]}}}}"#,
                self.prefix
            ));
        }
        if batch {
            body.push(']');
        }
        Bytes::from(body)
    }
}

/// How the requests are paced.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Each connection sends its next request as soon as the last is answered.
    Closed,
    /// This many events per second in all, shared among the connections.
    Rate(u64),
}

/// How to read a 202: the router's answer, or the ceiling's bare one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    Router,
    /// A 202 accepts every event of the request.
    Bare,
}

/// One phase of load.
#[derive(Clone)]
pub struct Load {
    pub addr: SocketAddr,
    pub token: Arc<str>,
    pub events: Events,
    pub answers: Answers,
    pub pace: Pace,
    pub connections: usize,
    pub duration: Duration,
    /// Stops after this many events, however long it takes.
    pub limit: Option<u64>,
    /// For a closed loop of single events: each request waits for a permit of
    /// this semaphore before it goes out (its ack latency counts from then),
    /// and uses it up if its event is accepted; someone else adds permits back.
    pub credit: Option<Arc<Semaphore>>,
}

/// Counted while the load runs, for whoever watches it (the backlog check).
#[derive(Default)]
pub struct Progress {
    pub accepted: AtomicU64,
}

/// What one phase of load did.
pub struct LoadStats {
    pub requests: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Events the router refused (4xx/5xx, or rejected items of a batch).
    pub rejected: u64,
    /// Requests that got no answer: refused, reset or timed out.
    pub transport_errors: u64,
    /// The first unexpected answer or error, to say what went wrong.
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Ack latency, µs: from when each request was due to its whole answer.
    pub ack: Histogram<u64>,
    /// The same, by the second of the load the answer came in (the second from
    /// `n` to `n + 1` s after the load started at index `n`); a second in which
    /// nothing was answered has an empty histogram, and the last may be partial.
    pub per_second: Vec<Histogram<u64>>,
}

impl LoadStats {
    pub fn events_per_s(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn merge(&mut self, other: LoadStats) {
        self.requests += other.requests;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.transport_errors += other.transport_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        // Same bounds on both sides: adding cannot fail.
        let _ = self.ack.add(&other.ack);
    }

    /// No load at all, over `elapsed`: for a phase that only delivers.
    pub fn idle(elapsed: Duration) -> Self {
        Self {
            elapsed,
            ..Self::empty()
        }
    }

    fn empty() -> Self {
        Self {
            requests: 0,
            accepted: 0,
            duplicates: 0,
            rejected: 0,
            transport_errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            ack: histogram(),
            per_second: Vec::new(),
        }
    }
}

/// Ack latencies by second, shared by a load's connections.
#[derive(Default)]
struct Seconds(Mutex<Vec<Histogram<u64>>>);

impl Seconds {
    /// Adds `second`'s latencies of one connection, and empties them.
    fn add(&self, second: u64, latencies: &mut Histogram<u64>) {
        if latencies.is_empty() {
            return;
        }
        let Ok(index) = usize::try_from(second) else {
            return;
        };
        // A panic while holding the lock leaves only histograms behind: carry on.
        let mut seconds = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seconds.len() <= index {
            seconds.resize_with(index + 1, second_histogram);
        }
        // Same bounds on both sides: adding cannot fail.
        let _ = seconds[index].add(&*latencies);
        latencies.reset();
    }

    fn take(&self) -> Vec<Histogram<u64>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One connection's latencies of the second under way.
struct ThisSecond {
    second: u64,
    latencies: Histogram<u64>,
}

impl ThisSecond {
    fn record(&mut self, seconds: &Seconds, start: Instant, latency_us: u64) {
        let now = start.elapsed().as_secs();
        if now != self.second {
            seconds.add(self.second, &mut self.latencies);
            self.second = now;
        }
        self.latencies.saturating_record(latency_us);
    }
}

/// Runs `load` to its end and adds up what every connection saw.
pub async fn run(load: Load, progress: Arc<Progress>) -> anyhow::Result<LoadStats> {
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let seconds = Arc::new(Seconds::default());
    let load = Arc::new(load);
    let mut tasks = Vec::with_capacity(load.connections);
    for connection in 0..load.connections {
        let (load, next, progress) = (load.clone(), next.clone(), progress.clone());
        let seconds = seconds.clone();
        tasks.push(tokio::spawn(async move {
            let shared = Shared {
                start,
                next: &next,
                progress: &progress,
                seconds: &seconds,
            };
            drive(&load, connection, shared).await
        }));
    }
    let mut stats = LoadStats::empty();
    for task in tasks {
        stats.merge(task.await.context("a load connection panicked")?);
    }
    stats.elapsed = start.elapsed();
    stats.per_second = seconds.take();
    if stats.requests == 0 && stats.transport_errors > 0 {
        anyhow::bail!(
            "no request to {} got an answer: {}",
            load.addr,
            stats.first_error.unwrap_or_default()
        );
    }
    Ok(stats)
}

/// What a load's connections share.
struct Shared<'a> {
    start: Instant,
    /// The next event's sequence number.
    next: &'a AtomicU64,
    progress: &'a Progress,
    seconds: &'a Seconds,
}

/// One connection's share of the load.
async fn drive(load: &Load, connection: usize, shared: Shared<'_>) -> LoadStats {
    let Shared {
        start,
        next,
        progress,
        seconds,
    } = shared;
    let mut stats = LoadStats::empty();
    let mut this_second = ThisSecond {
        second: 0,
        latencies: second_histogram(),
    };
    let end = start + load.duration;
    // At a fixed rate, this connection's requests are due every `interval`,
    // offset so that the connections take turns.
    let per_request = load.events.per_request;
    let schedule = match load.pace {
        Pace::Closed => None,
        Pace::Rate(rate) => {
            let requests_per_s = (rate as f64 / per_request as f64).max(1e-3);
            let interval = Duration::from_secs_f64(load.connections as f64 / requests_per_s);
            let offset = Duration::from_secs_f64(connection as f64 / requests_per_s);
            Some((interval, start + offset))
        }
    };
    let mut due = schedule.map(|(_, first)| first);
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        // Waiting for credit is the harness holding back, not the router: it
        // comes before the request's clock starts.
        let permit = match &load.credit {
            Some(credit) => match tokio::time::timeout_at(end.into(), credit.acquire()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => break,
            },
            None => None,
        };
        let sent_at = match (schedule, due.as_mut()) {
            (Some((interval, _)), Some(due)) => {
                let this = *due;
                *due += interval;
                if this >= end {
                    break;
                }
                tokio::time::sleep_until(this.into()).await;
                this
            }
            _ => Instant::now(),
        };
        if sent_at >= end {
            break;
        }
        let seq = next.fetch_add(per_request, Ordering::Relaxed);
        let count = match load.limit {
            Some(limit) if seq >= limit => break,
            Some(limit) => per_request.min(limit - seq),
            None => per_request,
        };
        let sent_us = now_us().saturating_sub(micros(sent_at.elapsed()));
        let body = load.events.body(seq, count, sent_us);
        let request = match request(load.addr, load.events.path(), &load.token, body) {
            Ok(request) => request,
            Err(e) => {
                stats.note(format!("cannot build a request: {e:#}"));
                break;
            }
        };
        let answer = match sender.as_mut() {
            Some(s) => send(s, request).await,
            None => match connect(load.addr).await {
                Ok(s) => send(sender.insert(s), request).await,
                Err(e) => Err(e),
            },
        };
        match answer {
            Ok((status, body)) => {
                stats.requests += 1;
                let latency = micros(sent_at.elapsed()).max(1);
                stats.ack.saturating_record(latency);
                this_second.record(seconds, start, latency);
                let batch = per_request > 1;
                let accepted = stats.count(load.answers, batch, count, status, &body);
                progress.accepted.fetch_add(accepted, Ordering::Relaxed);
                // An accepted event's permit comes back with its deliveries;
                // a refused one's at once, as it will have none.
                if let Some(permit) = permit.filter(|_| accepted > 0) {
                    permit.forget();
                }
            }
            Err(e) => {
                stats.transport_errors += 1;
                stats.note(format!("{e:#}"));
                sender = None;
                // Back off a little, so a router that is gone is not hammered.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    seconds.add(this_second.second, &mut this_second.latencies);
    stats
}

/// A batch's answer, as far as the harness reads it.
#[derive(Deserialize)]
struct BatchAnswer {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
}

impl LoadStats {
    /// Counts one answer to `count` events; returns how many were accepted.
    fn count(
        &mut self,
        answers: Answers,
        batch: bool,
        count: u64,
        status: StatusCode,
        body: &[u8],
    ) -> u64 {
        match (answers, status) {
            (Answers::Bare, StatusCode::ACCEPTED) => {
                self.accepted += count;
                count
            }
            (Answers::Router, StatusCode::ACCEPTED) if batch => {
                match serde_json::from_slice::<BatchAnswer>(body) {
                    Ok(answer) => {
                        self.accepted += answer.accepted;
                        self.duplicates += answer.duplicates;
                        self.rejected += answer.rejected;
                        if answer.rejected > 0 {
                            self.note(format!("a batch had {} rejected item(s)", answer.rejected));
                        }
                        answer.accepted
                    }
                    Err(e) => {
                        self.rejected += count;
                        self.note(format!("a batch answer is not what the API promises: {e}"));
                        0
                    }
                }
            }
            (Answers::Router, StatusCode::ACCEPTED) => {
                self.accepted += 1;
                1
            }
            (Answers::Router, StatusCode::OK) => {
                self.duplicates += count;
                0
            }
            _ => {
                self.rejected += count;
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                self.note(format!("HTTP {status}: {text}"));
                0
            }
        }
    }

    fn note(&mut self, error: String) {
        self.first_error.get_or_insert(error);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A POST of `body` as JSON, with the sender's token.
fn request(
    addr: SocketAddr,
    path: &str,
    token: &str,
    body: Bytes,
) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(body))?)
}

/// Opens one keep-alive HTTP/1 connection to `addr`.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("HTTP handshake with {addr} failed"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request on `sender` and reads the whole answer.
pub async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let exchange = async {
        sender.ready().await.context("the connection closed")?;
        let response = sender
            .send_request(request)
            .await
            .context("the request failed")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("the answer's body broke off")?
            .to_bytes();
        anyhow::Ok((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// One request on a connection of its own: for the admin API, now and then.
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string());
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Full::new(Bytes::new()))?;
    send(&mut connect(addr).await?, request).await
}
