//! The outbound HTTP client: pooled connections, HTTP/1.1 and HTTP/2 (ALPN), rustls
//! with the configured roots, the SSRF guard as its resolver, and the proxy if any
//! ([`super::egress`]).
//!
//! One client serves every webhook without a client certificate, so connections to
//! a host are pooled across deliveries; each distinct client certificate gets a
//! client of its own, since a TLS connection is bound to the identity that opened
//! it and must never be pooled for another ([`Clients`]). Each call is bounded by
//! the webhook's timeout, end to end (connect, TLS, headers and the body
//! excerpt), and comes back as either a [`Response`] or a [`TransportError`]
//! sorted into the kinds the attempt log and classifiers use.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use super::egress::Egress;
use crate::config::{Config, Outbound, Webhook};
use crate::model::ErrorKind;
use crate::ssrf::{Blocked, ResolveError};
use crate::tls::{self, ClientIdentity};

/// How much of a response body is kept: what classifiers get. The attempt log
/// keeps the first [`crate::store::RESPONSE_EXCERPT_BYTES`] of it.
pub const BODY_EXCERPT_BYTES: usize = 64 * 1024;

/// How much of a response body is read past the excerpt so the connection can be
/// reused; a longer body is cut off and its connection closed.
const DRAIN_LIMIT: usize = 256 * 1024;

type Connector = HttpsConnector<Egress>;

/// A shared HTTP client; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<Connector, Full<Bytes>>,
}

/// What a receiver answered, trimmed for the attempt log.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The first [`BODY_EXCERPT_BYTES`] of the body.
    pub body: Bytes,
    /// Whether the body went on past `body`.
    pub truncated: bool,
}

/// Why no response arrived.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The client could not be built (the TLS provider refused its settings).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS for outbound requests: {0}")]
pub struct ClientError(rustls::Error);

// By hand, not `#[from]`, which would make the cause also a `source` and print it twice.
impl From<rustls::Error> for ClientError {
    fn from(error: rustls::Error) -> Self {
        Self(error)
    }
}

/// The clients of a config: a shared one, and one per distinct client identity.
#[derive(Clone, Debug)]
pub struct Clients {
    allow_private_networks: bool,
    outbound: Outbound,
    shared: HttpClient,
    identities: Vec<(Arc<ClientIdentity>, HttpClient)>,
}

impl Clients {
    /// The clients `config`'s webhooks need; the guard is `allow_private_networks`,
    /// fixed for the life of the process.
    pub fn new(allow_private_networks: bool, config: &Config) -> Result<Self, ClientError> {
        let outbound = config.outbound.clone();
        let shared = HttpClient::new(allow_private_networks, &outbound, None)?;
        Self {
            allow_private_networks,
            outbound,
            shared,
            identities: Vec::new(),
        }
        .with_identities_of(config, &[])
    }

    /// The clients of `config`, keeping those of `self` whose settings it leaves
    /// as they were, with their pooled connections.
    pub fn renew(&self, config: &Config) -> Result<Self, ClientError> {
        if config.outbound != self.outbound {
            return Self::new(self.allow_private_networks, config);
        }
        Self {
            identities: Vec::new(),
            ..self.clone()
        }
        .with_identities_of(config, &self.identities)
    }

    fn with_identities_of(
        mut self,
        config: &Config,
        previous: &[(Arc<ClientIdentity>, HttpClient)],
    ) -> Result<Self, ClientError> {
        for identity in config
            .webhooks
            .iter()
            .filter_map(|w| w.client_identity.as_ref())
        {
            if self.identities.iter().any(|(known, _)| known == identity) {
                continue;
            }
            let client = match previous.iter().find(|(known, _)| known == identity) {
                Some((_, client)) => client.clone(),
                None => {
                    HttpClient::new(self.allow_private_networks, &self.outbound, Some(identity))?
                }
            };
            self.identities.push((identity.clone(), client));
        }
        Ok(self)
    }

    /// The client `webhook`'s deliveries go through.
    pub fn of(&self, webhook: &Webhook) -> HttpClient {
        (webhook.client_identity.as_ref())
            .and_then(|identity| self.identities.iter().find(|(known, _)| known == identity))
            .map_or_else(|| self.shared.clone(), |(_, client)| client.clone())
    }
}

impl HttpClient {
    /// A client with `outbound`'s roots and proxy, presenting `identity` if any.
    pub fn new(
        allow_private_networks: bool,
        outbound: &Outbound,
        identity: Option<&ClientIdentity>,
    ) -> Result<Self, ClientError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(&outbound.trust, identity)?)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(Egress::new(allow_private_networks, outbound.proxy.as_ref()));
        let inner = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Ok(Self { inner })
    }

    /// Sends `request`; the response's status and headers must arrive within `timeout`.
    ///
    /// The body is read only for the attempt log's excerpt, in what is left of the
    /// timeout: a body that stalls or breaks after the status line costs the excerpt,
    /// not the verdict, since the receiver has already answered.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response, TransportError> {
        let deadline = Instant::now() + timeout;
        let response = match tokio::time::timeout_at(deadline, self.inner.request(request)).await {
            Ok(response) => response.map_err(|e| sort(&e))?,
            Err(_) => {
                return Err(TransportError {
                    kind: ErrorKind::Timeout,
                    message: format!("no response within {}", humantime::format_duration(timeout)),
                });
            }
        };
        let (parts, body) = response.into_parts();
        let (body, truncated) = excerpt(body, deadline).await;
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
            truncated,
        })
    }
}

/// The first [`BODY_EXCERPT_BYTES`] of a body, and whether there was more, draining
/// up to [`DRAIN_LIMIT`] so the connection can be reused; whatever arrived before
/// `deadline` or an error.
async fn excerpt(mut body: hyper::body::Incoming, deadline: Instant) -> (Bytes, bool) {
    let mut excerpt = BytesMut::new();
    let mut read = 0;
    while read < DRAIN_LIMIT {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await else {
            break;
        };
        if let Ok(data) = frame.into_data() {
            read += data.len();
            let room = BODY_EXCERPT_BYTES.saturating_sub(excerpt.len());
            excerpt.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    let truncated = read > excerpt.len() || !body.is_end_stream();
    (excerpt.freeze(), truncated)
}

/// Sorts an error by its deepest recognised cause: the outer layers only say "connect
/// error", the inner ones say whether DNS, TLS or the socket failed.
fn sort(error: &(dyn StdError + 'static)) -> TransportError {
    let mut kind = None;
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        kind = kind_of(e).or(kind);
        cause = cause_of(e);
    }
    TransportError {
        kind: kind.unwrap_or(ErrorKind::Other),
        message: chain(error),
    }
}

/// The error `e` wraps. `io::Error::source` does not answer the error an I/O error
/// wraps but that error's own source, one layer further in. A TLS failure comes
/// as tokio-rustls's I/O error holding the `rustls::Error`, which hyper-rustls
/// wraps in an I/O error of its own: walked by `source`, the chain goes from that
/// outer I/O error straight past both, and the failure was sorted as `connect`.
fn cause_of<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
    {
        return Some(inner);
    }
    e.source()
}

fn kind_of(e: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    if e.is::<Blocked>() {
        return Some(ErrorKind::Blocked);
    }
    if let Some(resolve) = e.downcast_ref::<ResolveError>() {
        return Some(match resolve {
            ResolveError::Lookup { .. } => ErrorKind::Dns,
            ResolveError::Blocked(_) => ErrorKind::Blocked,
        });
    }
    if e.is::<rustls::Error>() {
        return Some(ErrorKind::Tls);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if is_local_shortage(io) {
            return Some(ErrorKind::Local);
        }
        use std::io::ErrorKind as Io;
        return match io.kind() {
            Io::ConnectionRefused
            | Io::HostUnreachable
            | Io::NetworkUnreachable
            | Io::AddrNotAvailable => Some(ErrorKind::Connect),
            Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof => {
                Some(ErrorKind::Reset)
            }
            Io::TimedOut => Some(ErrorKind::Timeout),
            // Only the TLS layer finds a connection's bytes invalid; once the
            // handshake is done, rustls reports an alert (a receiver refusing the
            // client certificate, under TLS 1.3) as a message, not a typed error.
            Io::InvalidData => Some(ErrorKind::Tls),
            _ => None,
        };
    }
    if let Some(hyper) = e.downcast_ref::<hyper::Error>()
        && (hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled())
    {
        return Some(ErrorKind::Reset);
    }
    if let Some(client) = e.downcast_ref::<hyper_util::client::legacy::Error>()
        && client.is_connect()
    {
        return Some(ErrorKind::Connect);
    }
    None
}

/// Whether the router itself, not the network or the receiver, is short of
/// something a connection needs: file descriptors (EMFILE, ENFILE), memory
/// (ENOMEM, ENOBUFS) or local ports (EADDRNOTAVAIL, from connect).
fn is_local_shortage(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::OutOfMemory
        || io.raw_os_error().is_some_and(|code| {
            [
                libc::EMFILE,
                libc::ENFILE,
                libc::ENOMEM,
                libc::ENOBUFS,
                libc::EADDRNOTAVAIL,
            ]
            .contains(&code)
        })
}

/// "outer: cause: root cause", skipping causes that repeat their parent's text.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = cause_of(error);
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = cause_of(e);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn a_rustls_error_wrapped_twice_in_io_errors_is_tls() {
        // What hyper-rustls 0.27 hands hyper-util when a handshake fails: its own
        // I/O error around tokio-rustls's, around the rustls error.
        let rustls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let tokio_rustls = io::Error::new(io::ErrorKind::InvalidData, rustls);
        let hyper_rustls = io::Error::other(tokio_rustls);
        let sorted = sort(&hyper_rustls);
        assert_eq!(sorted.kind, ErrorKind::Tls, "{}", sorted.message);
        assert!(
            sorted.message.contains("UnknownIssuer"),
            "{}",
            sorted.message
        );
    }

    #[test]
    fn an_alert_after_the_handshake_is_tls() {
        // What a request on a connection gets when the receiver refused the client
        // certificate after a TLS 1.3 handshake: an I/O error with rustls's message.
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRequired",
        );
        assert_eq!(sort(&alert).kind, ErrorKind::Tls);
    }

    #[test]
    fn socket_failures_inside_io_errors_keep_their_kinds() {
        let refused = io::Error::other(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(sort(&refused).kind, ErrorKind::Connect);
        let eof = io::Error::other(io::Error::new(io::ErrorKind::UnexpectedEof, "eof"));
        assert_eq!(sort(&eof).kind, ErrorKind::Reset);
    }

    #[test]
    fn running_out_of_descriptors_or_memory_is_the_routers_shortage_not_the_receivers() {
        /// As hyper-util's connector reports it: an error of its own around the I/O error.
        #[derive(Debug, thiserror::Error)]
        #[error("tcp open error")]
        struct ConnectError(#[source] std::io::Error);

        for code in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOMEM,
            libc::EADDRNOTAVAIL,
        ] {
            let wrapped = ConnectError(std::io::Error::from_raw_os_error(code));
            assert_eq!(sort(&wrapped).kind, ErrorKind::Local, "errno {code}");
        }
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(sort(&refused).kind, ErrorKind::Connect);
    }
}
