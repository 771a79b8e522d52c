//! The fast receiver: a hyper server on loopback that the router delivers to,
//! counting each request, timing each event from its send to its delivery, and
//! checking what it gets.
//!
//! It is built into the harness, not a separate program, so that it reads the
//! same clock as the load generator ([`now_us`]): each event carries its send
//! time in `data.sent_us`, and accept-to-delivered latency is the difference. It
//! keeps one small record per delivery id (`webhook-id`), which is what makes the
//! counts exact: a delivery that arrives twice, or is attempted more often than
//! the scenario allows, is seen. It verifies a sample of the Standard Webhooks
//! signatures with the library's own [`standard_signature`], and, where the
//! scenario asks, that each event reached the webhook for its type and was
//! redacted on the way, or (`fanout`) reached every webhook exactly once: one
//! bit per webhook per event id, which catches what counting delivery ids
//! cannot, an event sent twice to one webhook under two delivery ids and never
//! to another.
//!
//! It also counts what tells how many requests the router had under way: the
//! connections it opened, and the most it held open at once (its client pools
//! them, and opens one per request it sends while none is idle). And it can hand
//! credit back to the load ([`Receiver::give_credit`]), one permit per so many
//! deliveries, so that a scenario's backlog stays bounded.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use switchyard::signing::standard_signature;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::load::histogram;
use super::now_us;

/// One request in this many has its signature verified.
const VERIFY_ONE_IN: u64 = 8;

/// How the receiver answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 at once.
    Accept,
    /// 500 to every other first attempt (the 1st, 3rd, 5th... delivery id seen),
    /// 200 to everything else.
    FailHalfOfFirstAttempts,
}

/// What the receiver checks besides signatures.
#[derive(Clone, Copy, Default)]
pub struct Checks {
    /// Path `/wN` gets only events of type `type.N`.
    pub routed_by_type: bool,
    /// `data.email` arrives masked by the redact plugin.
    pub redacted: bool,
    /// `Some(n)`: paths `/w0` to `/w{n-1}` are webhooks (at most 128), and each
    /// gets every event once.
    pub fanout: Option<u64>,
}

/// Counts so far. Each is exact.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub requests: u64,
    /// Distinct delivery ids answered 2xx.
    pub delivered: u64,
    /// 2xx requests for a delivery id already answered 2xx.
    pub duplicates: u64,
    /// Requests answered 500 on purpose.
    pub failed_on_purpose: u64,
    /// The most requests any one delivery id got.
    pub most_attempts: u64,
    pub signatures_verified: u64,
    pub bad_signatures: u64,
    /// Requests without a delivery id, or whose body is not the event.
    pub malformed: u64,
    pub misrouted: u64,
    /// Deliveries of an event to a webhook that already had it, under another
    /// delivery id (`fanout`).
    pub repeated: u64,
    pub unredacted: u64,
    /// Bytes of the bodies of the requests.
    pub body_bytes: u64,
    /// Connections accepted.
    pub connections: u64,
    /// The most connections open at once.
    pub peak_connections: u64,
    /// When the first and the last delivery arrived, µs on the run's clock.
    pub first_at_us: Option<u64>,
    pub last_at_us: Option<u64>,
}

/// One delivery id's record.
#[derive(Clone, Copy, Default)]
struct Seen {
    attempts: u8,
    succeeded: bool,
}

struct State {
    behaviour: Behaviour,
    checks: Checks,
    key: Vec<u8>,
    sampled: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
    peak_open: AtomicU64,
    inner: Mutex<Inner>,
}

/// Permits given back to a load as deliveries arrive.
struct Credit {
    permits: Arc<Semaphore>,
    /// One permit per this many deliveries...
    per: u64,
    /// ...counted from this many.
    from: u64,
}

struct Inner {
    counts: Counts,
    seen: HashMap<u128, Seen>,
    /// First attempts seen: which of them fail.
    first_attempts: u64,
    /// Send to delivery, µs, since the last [`Receiver::take_latency`].
    latency: Histogram<u64>,
    /// `fanout`: by event id, one bit per webhook that got it.
    fanned: HashMap<String, u128>,
    credit: Option<Credit>,
}

/// A running receiver.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The event as delivered, as far as the receiver reads it.
#[derive(Deserialize)]
struct Delivered {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    sent_us: u64,
    email: Option<String>,
}

impl Receiver {
    /// A loopback address reserved for a receiver that is not up yet: bound, so
    /// nothing else takes it, but not served.
    pub fn reserve() -> anyhow::Result<std::net::TcpListener> {
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")
    }

    /// Starts a receiver on a free loopback port. `key` is the webhooks' signing
    /// key (the decoded secret).
    pub fn start(behaviour: Behaviour, checks: Checks, key: &[u8]) -> anyhow::Result<Self> {
        Self::start_on(Self::reserve()?, behaviour, checks, key)
    }

    /// Starts a receiver on `listener`, reserved earlier.
    pub fn start_on(
        listener: std::net::TcpListener,
        behaviour: Behaviour,
        checks: Checks,
        key: &[u8],
    ) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            behaviour,
            checks,
            key: key.to_vec(),
            sampled: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            open: AtomicU64::new(0),
            peak_open: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                counts: Counts::default(),
                seen: HashMap::new(),
                first_attempts: 0,
                latency: histogram(),
                fanned: HashMap::new(),
                credit: None,
            }),
        });
        let accept = tokio::spawn(accept(listener, state.clone()));
        Ok(Self {
            addr,
            state,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counts(&self) -> Counts {
        let mut counts = self.state.lock().counts;
        counts.connections = self.state.connections.load(Ordering::Relaxed);
        counts.peak_connections = self.state.peak_open.load(Ordering::Relaxed);
        counts
    }

    /// From now on, adds a permit to `permits` for every `per` deliveries.
    pub fn give_credit(&self, permits: Arc<Semaphore>, per: u64) {
        let mut inner = self.state.lock();
        let from = inner.counts.delivered;
        inner.credit = Some(Credit {
            permits,
            per: per.max(1),
            from,
        });
    }

    /// `fanout`: the events that reached every one of the `webhooks`.
    pub fn fanned_out(&self, webhooks: u64) -> u64 {
        let all = match webhooks {
            128.. => u128::MAX,
            n => (1u128 << n) - 1,
        };
        let inner = self.state.lock();
        (inner.fanned.values()).filter(|mask| **mask == all).count() as u64
    }

    /// The send-to-delivery latencies recorded since the last call, µs.
    pub fn take_latency(&self) -> Histogram<u64> {
        std::mem::replace(&mut self.state.lock().latency, histogram())
    }
}

/// Accepts connections until the receiver is dropped.
async fn accept(listener: TcpListener, state: Arc<State>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::Relaxed);
        let open = state.open.fetch_add(1, Ordering::Relaxed) + 1;
        state.peak_open.fetch_max(open, Ordering::Relaxed);
        let served = state.clone();
        let service = hyper::service::service_fn(move |request| handle(served.clone(), request));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let state = state.clone();
        tokio::spawn(async move {
            let _ = connection.await;
            state.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let status = match body.collect().await {
        Ok(body) => state.receive(parts.uri.path(), &parts.headers, &body.to_bytes()),
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only counters behind: carry on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one request and says how to answer it.
    fn receive(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let at = now_us();
        let id = header(headers, "webhook-id");
        let key = id.and_then(|id| id.strip_prefix("dlv_"));
        let key = key.and_then(|hex| u128::from_str_radix(hex, 16).ok());
        let event = serde_json::from_slice::<Delivered>(body).ok();
        let signature = match (id, self.sampled.fetch_add(1, Ordering::Relaxed)) {
            (Some(id), n) if n % VERIFY_ONE_IN == 0 => Some(self.verify(id, headers, body)),
            _ => None,
        };

        let mut inner = self.lock();
        let inner = &mut *inner;
        let counts = &mut inner.counts;
        counts.requests += 1;
        counts.body_bytes += body.len() as u64;
        match signature {
            Some(true) => counts.signatures_verified += 1,
            Some(false) => counts.bad_signatures += 1,
            None => {}
        }
        let (Some(key), Some(event)) = (key, event) else {
            counts.malformed += 1;
            // 200, so that the router does not retry what it cannot mend.
            return StatusCode::OK;
        };
        if self.checks.routed_by_type && !routed_right(path, &event.kind) {
            counts.misrouted += 1;
        }
        let webhook = (self.checks.fanout)
            .and_then(|webhooks| webhook_of(path).filter(|w| *w < webhooks.min(128)));
        if self.checks.fanout.is_some() && webhook.is_none() {
            counts.misrouted += 1;
        }
        if self.checks.redacted && event.data.email.as_deref() != Some("[redacted]") {
            counts.unredacted += 1;
        }
        let seen = inner.seen.entry(key).or_default();
        seen.attempts = seen.attempts.saturating_add(1);
        counts.most_attempts = counts.most_attempts.max(u64::from(seen.attempts));
        if seen.attempts == 1 && self.behaviour == Behaviour::FailHalfOfFirstAttempts {
            inner.first_attempts += 1;
            if inner.first_attempts % 2 == 1 {
                counts.failed_on_purpose += 1;
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
        }
        if seen.succeeded {
            counts.duplicates += 1;
            return StatusCode::OK;
        }
        seen.succeeded = true;
        counts.delivered += 1;
        if let Some(credit) = &inner.credit
            && (counts.delivered - credit.from).is_multiple_of(credit.per)
        {
            credit.permits.add_permits(1);
        }
        if let Some(webhook) = webhook {
            let bit = 1u128 << webhook;
            let mask = inner.fanned.entry(event.id).or_default();
            if *mask & bit == 0 {
                *mask |= bit;
            } else {
                counts.repeated += 1;
            }
        }
        counts.first_at_us.get_or_insert(at);
        counts.last_at_us = Some(at);
        inner
            .latency
            .saturating_record(at.saturating_sub(event.data.sent_us).max(1));
        StatusCode::OK
    }

    /// Whether the Standard Webhooks signature headers hold a signature of
    /// `body` by the webhooks' key.
    fn verify(&self, id: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        let timestamp = header(headers, "webhook-timestamp").and_then(|t| t.parse().ok());
        let (Some(timestamp), Some(signatures)) = (timestamp, header(headers, "webhook-signature"))
        else {
            return false;
        };
        let expected = standard_signature(&self.key, id, timestamp, body);
        signatures.split(' ').any(|s| s == expected)
    }
}

/// `N` of a path `/wN`.
fn webhook_of(path: &str) -> Option<u64> {
    path.strip_prefix("/w")?.parse().ok()
}

/// Whether an event of type `type.N` came to path `/wN`.
fn routed_right(path: &str, kind: &str) -> bool {
    match (path.strip_prefix("/w"), kind.strip_prefix("type.")) {
        (Some(webhook), Some(kind)) => webhook == kind,
        _ => false,
    }
}
