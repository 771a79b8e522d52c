//! The HTTP listeners' accept loop: how many connections each may hold, and how
//! long a connection may sit there without asking for anything.
//!
//! Every open connection costs a file descriptor, and the process has a fixed
//! number of them: the ones ingest and the admin API hold are the ones outbound
//! deliveries and the data file cannot have. So a connection is only kept while it
//! is useful:
//!
//! - each listener holds at most [`Limits::max_connections`]; one past that is
//!   answered `503` (what an HTTP/1 client can read; an HTTP/2 one sees the
//!   connection close) and closed at once, rather than left to queue;
//! - a connection must complete its first request head within
//!   [`Limits::header_timeout`]. hyper's own HTTP/1 header timeout starts only
//!   once the protocol is known, which takes 24 bytes, so a silent connection, or
//!   one that sends only the HTTP/2 preface, is bounded here, whatever it sends;
//! - a connection with no request in flight for [`Limits::idle_timeout`] is shut
//!   down gracefully (HTTP/2 gets a GOAWAY). HTTP/1 keep-alive connections are
//!   also bounded by hyper's header timeout while they wait for the next request;
//!   HTTP/2 ones are pinged, and closed when the pings go unanswered.
//!
//! The cap's semaphore doubles as the count of live connections, which is how a
//! stopping listener knows when the last one is done.
//!
//! Each request is served through [`crate::access`], which gives it its request
//! id, its span and its access log line, whichever API the listener serves.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use crate::access;
use crate::api::Body;
use crate::log_limit::LogLimit;
use crate::metrics::Metrics;

/// What one listener allows its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// File descriptors kept for everything but the listeners' connections: the data
/// file, plugin caches, the runtime's own, and a floor for outbound deliveries.
const RESERVED_FDS: u64 = 256;

/// The largest default cap: past it, memory runs out before descriptors do.
const MAX_DEFAULT_CONNECTIONS: u64 = 10_000;

/// The default cap of the ingest listener, from the process's file descriptor
/// limit: half of what is left after [`RESERVED_FDS`], so outbound connections
/// keep the other half.
pub fn default_ingest_connections(fd_limit: u64) -> usize {
    let share = fd_limit.saturating_sub(RESERVED_FDS) / 2;
    usize::try_from(share.clamp(64, MAX_DEFAULT_CONNECTIONS)).unwrap_or(64)
}

/// The default cap of the admin listener: operators and scrapers, a few at a time.
pub fn default_admin_connections(fd_limit: u64) -> usize {
    usize::try_from((fd_limit / 16).clamp(16, 256)).unwrap_or(16)
}

/// The process's soft limit on open files, which the default caps derive from.
pub fn fd_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
}

/// Raises the soft limit on open files to the hard limit, as a server that holds
/// many sockets should (Go's runtime does the same at start). The binary calls it
/// before the router starts; a library user decides for its own process.
pub fn raise_fd_limit() {
    let before = fd_limit();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) if now != before => {
            tracing::debug!(from = before, to = now, "raised the open files limit");
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, limit = before, "cannot raise the open files limit"),
    }
}

/// Hyper's HTTP/2 keep-alive: a ping this often, and the connection closed if the
/// answer takes longer than this.
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// How long open requests may take to finish once the listener stops, and a
/// connection once it is told to shut down.
const DRAIN: Duration = Duration::from_secs(5);

/// The answer to a connection past the cap, written without reading its request.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 86\r\n\r\n{\"error\":{\"code\":\"too_many_connections\",\"message\":\"too many open connections; retry\"}}";

/// Serves `handler` on `listener` until `stop` fires, then lets open requests
/// finish (for up to [`DRAIN`]). `name` labels the listener in logs and metrics.
pub async fn serve<H, F>(
    name: &'static str,
    listener: TcpListener,
    handler: H,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) where
    H: Fn(Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = LogLimit::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!(listener = name, error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(&stream);
            metrics.connection_refused(name);
            if let Some(refused) = refusals.hit() {
                tracing::warn!(
                    listener = name,
                    refused,
                    max_connections = limits.max_connections,
                    "refusing connections: the listener holds as many as it may"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            name,
            builder: builder.clone(),
            limits,
            metrics: metrics.clone(),
            stop: stop.clone(),
        };
        let handler = handler.clone();
        metrics.connection_opened(name);
        tokio::spawn(async move {
            connection.run(stream, peer, handler).await;
            connection.metrics.connection_closed(name);
            drop(slot);
        });
    }
    drop(listener);
    // Every connection holds a slot until it ends: all of them back means all done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(DRAIN, slots.acquire_many(all)).await;
    if drained.is_err() {
        tracing::warn!(
            listener = name,
            "connections still open after the drain; closing them"
        );
    }
}

/// Tells a client past the cap why, if its socket takes the bytes now, and closes.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(REFUSAL);
}

/// One accepted connection and what bounds it.
struct Connection {
    name: &'static str,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Limits,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run<H, F>(&self, stream: TcpStream, peer: SocketAddr, handler: H)
    where
        H: Fn(Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let service = {
            let (activity, name) = (activity.clone(), self.name);
            hyper::service::service_fn(move |request| {
                let busy = activity.begin();
                let response = access::serve(name, peer, request, &handler);
                async move {
                    let response = response.await;
                    drop(busy);
                    response
                }
            })
        };
        let connection = self
            .builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::pin!(connection);
        let mut stop = self.stop.clone();
        let mut closing: Option<Instant> = None;
        if *stop.borrow_and_update() {
            // The listener stopped between the accept and now.
            connection.as_mut().graceful_shutdown();
            closing = Some(Instant::now() + DRAIN);
        }
        loop {
            let wake_at = closing.unwrap_or_else(|| activity.deadline(&self.limits));
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(listener = self.name, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.changed(), if closing.is_none() => {
                    connection.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + DRAIN);
                }
                _ = activity.changed() => {}
                _ = tokio::time::sleep_until(wake_at) => {
                    if closing.is_some() {
                        return; // it had its chance to finish: dropping it closes the socket
                    }
                    if activity.deadline(&self.limits) > Instant::now() {
                        continue;
                    }
                    if activity.served() == 0 {
                        // Nothing to finish gracefully: it never completed a request head.
                        self.metrics.connection_timed_out(self.name, "header");
                        tracing::debug!(listener = self.name, "closing a connection that sent no request in time");
                        return;
                    }
                    self.metrics.connection_timed_out(self.name, "idle");
                    connection.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + DRAIN);
                }
            }
        }
    }
}

/// What a connection's requests are doing: how many are in flight, how many have
/// been served, and since when it has been idle.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    served: AtomicUsize,
    /// Milliseconds from `opened` to the end of the last request.
    idle_since_ms: AtomicU64,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
        Busy(self.clone())
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    async fn changed(&self) {
        self.changed.notified().await;
    }

    /// When the connection has been idle too long, if nothing happens meanwhile.
    /// While a request is in flight there is no such time; it is looked at again
    /// when the request ends.
    fn deadline(&self, limits: &Limits) -> Instant {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Instant::now() + limits.idle_timeout;
        }
        if self.served() == 0 {
            return self.opened + limits.header_timeout;
        }
        let idle_since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        self.opened + idle_since + limits.idle_timeout
    }
}

/// A request in flight on its connection.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let now = u64::try_from(activity.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.idle_since_ms.store(now, Ordering::SeqCst);
        activity.in_flight.fetch_sub(1, Ordering::SeqCst);
        activity.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_caps_leave_descriptors_for_deliveries() {
        assert_eq!(default_ingest_connections(1024), 384);
        assert_eq!(default_admin_connections(1024), 64);
        assert_eq!(default_ingest_connections(256), 64, "a floor");
        assert_eq!(default_ingest_connections(1 << 20), 10_000, "a ceiling");
        assert!(default_ingest_connections(1024) + default_admin_connections(1024) < 1024 / 2);
    }

    #[test]
    fn the_refusal_is_a_whole_http_response() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
