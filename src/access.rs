//! What every HTTP request gets, whichever listener took it: a request id, a
//! span, and one access log line.
//!
//! The id is the client's `X-Request-Id` when it sent a sane one (a proxy in
//! front may have assigned it, and the operator wants one id end to end), else a
//! new UUID v7 (time-ordered, so ids sort like the log). It is echoed in the
//! answer, named in the request's span (so every line logged while serving the
//! request carries it) and in the access line.
//!
//! The access line is logged once the answer is ready, at INFO under its own
//! target, [`TARGET`], so an operator switches it off without losing anything
//! else (`RUST_LOG=info,switchyard::access=off`). It is emitted outside the
//! request's span and names every field itself, so a filter that keeps only
//! access lines still has whole lines. Refused requests (401, 400, 503) are
//! logged like any other: the access log is where a misconfigured sender shows.
//!
//! Wrapping the handler here, rather than in each API, means neither API can
//! forget it; the handler only adds what it alone knows, the [`Sender`] it
//! authenticated, to the answer's extensions.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use hyper::body::Body as _;
use tracing::Instrument;

use crate::api::{self, Body};

/// The header a request id comes in and goes back out in.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The tracing target of the access log lines.
pub const TARGET: &str = "switchyard::access";

/// The longest request id taken from a client; a longer one is replaced.
pub const MAX_REQUEST_ID: usize = 128;

/// The sender a request authenticated as, for the access line: set by ingest
/// on the answer's extensions.
#[derive(Debug, Clone)]
pub struct Sender(pub Arc<str>);

/// The request id for a request: its own `X-Request-Id` if that is 1 to
/// [`MAX_REQUEST_ID`] visible ASCII characters, else a new one. A client's id
/// reaches the log, so one that could forge a line or flood it is not kept.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    let given = headers.get(&REQUEST_ID).filter(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID && bytes.iter().all(u8::is_ascii_graphic)
    });
    match given {
        Some(value) => value.clone(),
        // A simple UUID is 32 hex digits: always a valid header value.
        None => HeaderValue::from_str(&uuid::Uuid::now_v7().simple().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("-")),
    }
}

/// Serves `request` with `handler` in a span of its own, answers with its
/// request id, and logs the access line.
pub fn serve<B, H, F>(
    listener: &'static str,
    peer: SocketAddr,
    request: Request<B>,
    handler: &H,
) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + use<B, H, F>
where
    H: Fn(Request<B>) -> F,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let started = Instant::now();
    let id = request_id(request.headers());
    let id_text = String::from_utf8_lossy(id.as_bytes()).into_owned();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let bytes_in = api::content_length(request.headers());
    let span = tracing::info_span!("request", id = %id_text, listener, %method, %path);
    let answer = handler(request).instrument(span);
    async move {
        let Ok(mut response) = answer.await;
        response.headers_mut().insert(REQUEST_ID.clone(), id);
        let sender = response.extensions_mut().remove::<Sender>();
        tracing::info!(
            target: TARGET,
            listener,
            id = %id_text,
            %method,
            %path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            remote = %peer,
            sender = sender.as_ref().map(|s| &*s.0),
            bytes_in,
            bytes_out = response.body().size_hint().exact(),
            "request"
        );
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID.clone(), HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn a_sane_request_id_is_kept_and_any_other_replaced() {
        let kept = request_id(&with_id(b"req-42/abc"));
        assert_eq!(kept, "req-42/abc");
        let long = vec![b'a'; MAX_REQUEST_ID];
        assert_eq!(request_id(&with_id(&long)).as_bytes(), &long[..]);
        for bad in [
            &b"has space"[..],
            &b"tab\there"[..],
            "é".as_bytes(),
            &[b'a'; MAX_REQUEST_ID + 1][..],
        ] {
            let replaced = request_id(&with_id(bad));
            assert_ne!(replaced.as_bytes(), bad);
            assert_eq!(replaced.len(), 32, "a new uuid: {replaced:?}");
        }
        let (a, b) = (request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
        assert_ne!(a, b, "each request its own");
    }
}
