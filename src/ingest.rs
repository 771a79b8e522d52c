//! Ingest: the HTTP endpoint senders post events to.
//!
//! `POST /v1/events` takes one event, `POST /v1/events/batch` up to
//! [`MAX_BATCH`]. A request is answered 2xx only after its events, their dedupe
//! keys and their deliveries are durably committed; the commit is shared with
//! every other request in flight (see [`crate::store`]), which is what makes
//! durable acks fast. After the commit, the lanes of the webhooks that got new
//! deliveries are woken, so a first attempt starts at once.
//!
//! The body is never parsed into a JSON tree: `data` stays the sender's raw text,
//! and the payload delivered is built around it once, here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;

use crate::api::{self, ApiError, Body};
use crate::config::{Config, Sender, Webhook};
use crate::delivery::Scheduler;
use crate::store::{Ingested, NewEvent, Store, StoreError, now_ms};

/// The most events one batch request may carry.
pub const MAX_BATCH: usize = 1000;

/// The ingest service's state, shared by every connection.
pub struct Ingest {
    /// Senders by the SHA-256 of their token: a lookup that takes the same time
    /// whichever byte of a guessed token is wrong.
    senders: HashMap<[u8; 32], Arc<str>>,
    webhooks: Vec<Arc<Webhook>>,
    store: Store,
    scheduler: Arc<Scheduler>,
    max_body_bytes: usize,
    dedupe_window_ms: u64,
    draining: AtomicBool,
}

impl Ingest {
    pub fn new(config: &Config, store: Store, scheduler: Arc<Scheduler>) -> Self {
        Self {
            senders: config.senders.iter().map(sender_entry).collect(),
            webhooks: config
                .webhooks
                .iter()
                .filter(|w| w.enabled)
                .cloned()
                .collect(),
            store,
            scheduler,
            max_body_bytes: config.server.max_body_bytes,
            dedupe_window_ms: u64::try_from(config.server.dedupe_window.as_millis())
                .unwrap_or(u64::MAX),
            draining: AtomicBool::new(false),
        }
    }

    /// From now on every request is refused with 503, so senders retry elsewhere or later.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Serves one HTTP request.
    pub async fn handle<B>(
        self: Arc<Self>,
        request: Request<B>,
    ) -> Result<Response<Body>, Infallible>
    where
        B: hyper::body::Body,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let batch = match (request.method(), request.uri().path()) {
            (&Method::POST, "/v1/events") => false,
            (&Method::POST, "/v1/events/batch") => true,
            (_, "/v1/events" | "/v1/events/batch") => {
                let mut response = ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "use POST",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
                return Ok(response);
            }
            (_, path) => {
                let message = format!("no route for {path}");
                return api::respond(Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    message,
                )));
            }
        };
        let span = tracing::info_span!(
            "ingest",
            sender = tracing::field::Empty,
            events = tracing::field::Empty
        );
        let result = self.accept(request, batch).instrument(span).await;
        if let Err(e) = &result
            && e.status == StatusCode::UNAUTHORIZED
        {
            let mut response = e.clone().into_response();
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Ok(response);
        }
        api::respond(result)
    }

    async fn accept<B>(&self, request: Request<B>, batch: bool) -> Result<Response<Body>, ApiError>
    where
        B: hyper::body::Body,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if self.draining.load(Ordering::SeqCst) {
            return Err(ApiError::unavailable(
                "shutting_down",
                "the router is shutting down",
                5,
            ));
        }
        let sender = self.authenticate(request.headers())?;
        tracing::Span::current().record("sender", &*sender);
        api::require_json(request.headers())?;
        let (parts, body) = request.into_parts();
        let body = api::read_body(&parts.headers, body, self.max_body_bytes).await?;
        if batch {
            self.accept_batch(&sender, &body).await
        } else {
            self.accept_one(&sender, &body).await
        }
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<str>, ApiError> {
        let unauthorized = |code, message| ApiError::new(StatusCode::UNAUTHORIZED, code, message);
        let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = value
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                unauthorized("missing_token", "send Authorization: Bearer <sender token>")
            })?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        (self.senders.get(&digest).cloned())
            .ok_or_else(|| unauthorized("invalid_token", "the token does not belong to any sender"))
    }

    async fn accept_one(&self, sender: &Arc<str>, body: &[u8]) -> Result<Response<Body>, ApiError> {
        let event = self.prepare(sender, parse_json(body)?)?;
        tracing::Span::current().record("events", event.id.as_str());
        let id = event.id.clone();
        let webhooks = event.webhooks.clone();
        let ingested = self.commit(vec![event]).await?;
        let duplicate = ingested.first() == Some(&Ingested::Duplicate);
        if !duplicate {
            self.wake(&webhooks);
        }
        let status = if duplicate {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        Ok(api::json(status, &Accepted { id: &id, duplicate }))
    }

    async fn accept_batch(
        &self,
        sender: &Arc<str>,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "malformed_json",
                format!("the body must be a JSON array of events: {e}"),
            )
        })?;
        if items.is_empty() || items.len() > MAX_BATCH {
            let message = format!("a batch holds 1 to {MAX_BATCH} events, not {}", items.len());
            return Err(ApiError::bad_request("invalid_batch", message));
        }
        tracing::Span::current().record("events", items.len());
        // Keep what each item's answer needs; the events themselves move into the commit.
        let mut answers: Vec<Result<Routed, ApiError>> = Vec::with_capacity(items.len());
        let mut valid = Vec::with_capacity(items.len());
        for item in items {
            match parse_json(item.get().as_bytes()).and_then(|e| self.prepare(sender, e)) {
                Ok(event) => {
                    answers.push(Ok((event.id.clone(), event.webhooks.clone())));
                    valid.push(event);
                }
                Err(e) => answers.push(Err(e)),
            }
        }
        let mut ingested = self.commit(valid).await?.into_iter();
        let mut summary = BatchSummary::default();
        for answer in answers {
            let result = match answer {
                Ok((id, webhooks)) => {
                    let duplicate = ingested.next() == Some(Ingested::Duplicate);
                    if duplicate {
                        summary.duplicates += 1;
                    } else {
                        summary.accepted += 1;
                        self.wake(&webhooks);
                    }
                    ItemResult::accepted(id, duplicate)
                }
                Err(e) => {
                    summary.rejected += 1;
                    ItemResult::rejected(e)
                }
            };
            summary.results.push(result);
        }
        Ok(api::json(StatusCode::ACCEPTED, &summary))
    }

    /// Validates an incoming event and builds the payload that will be delivered.
    fn prepare(&self, sender: &Arc<str>, event: Incoming<'_>) -> Result<NewEvent, ApiError> {
        let event_type = event
            .event_type
            .ok_or_else(|| ApiError::bad_request("invalid_type", "the event needs a \"type\""))?;
        if !is_valid_type(event_type) {
            return Err(ApiError::bad_request(
                "invalid_type",
                format!("the type {event_type:?} must be 1 to 128 of A-Z a-z 0-9 . _ : -"),
            ));
        }
        let data = event.data.ok_or_else(|| {
            ApiError::bad_request("invalid_event", "the event needs \"data\" (any JSON value)")
        })?;
        let id = match event.id {
            Some(id) if is_valid_id(id) => id.to_owned(),
            Some(id) => {
                return Err(ApiError::bad_request(
                    "invalid_id",
                    format!(
                        "the id {id:?} must be 1 to 255 printable ASCII characters, without spaces"
                    ),
                ));
            }
            None => format!("evt_{}", uuid::Uuid::now_v7().simple()),
        };
        let received_at_ms = now_ms();
        let timestamp = normalize_timestamp(event.timestamp, received_at_ms)?;
        let payload = serde_json::to_vec(&Outgoing {
            id: &id,
            event_type,
            timestamp: &timestamp,
            data,
        })
        .map_err(|e| ApiError::bad_request("invalid_event", e.to_string()))?;
        let webhooks = (self.webhooks.iter())
            .filter(|w| w.events.matches(event_type))
            .map(|w| w.id.clone())
            .collect();
        Ok(NewEvent {
            sender: sender.clone(),
            id,
            event_type: event_type.to_owned(),
            received_at_ms,
            payload,
            webhooks,
        })
    }

    async fn commit(&self, events: Vec<NewEvent>) -> Result<Vec<Ingested>, ApiError> {
        self.store
            .ingest(events, self.dedupe_window_ms)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot store events");
                match e {
                    StoreError::Closed => {
                        ApiError::unavailable("shutting_down", "the router is shutting down", 5)
                    }
                    _ => ApiError::unavailable(
                        "store_unavailable",
                        "events cannot be stored right now",
                        1,
                    ),
                }
            })
    }

    fn wake(&self, webhooks: &[Arc<str>]) {
        for webhook in webhooks {
            self.scheduler.wake(webhook);
        }
    }
}

fn sender_entry(sender: &Sender) -> ([u8; 32], Arc<str>) {
    (
        Sha256::digest(sender.token.expose().as_bytes()).into(),
        sender.name.clone(),
    )
}

/// An event as a sender posts it. Unknown fields are refused, so a typo is an
/// error rather than silently dropped data.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    id: Option<&'a str>,
    #[serde(borrow, default, rename = "type")]
    event_type: Option<&'a str>,
    /// `Some` even for `null`: a null payload is data, only an absent one is missing.
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// An accepted event's id and the webhooks it is routed to.
type Routed = (String, Vec<Arc<str>>);

/// The payload receivers get.
#[derive(Serialize)]
struct Outgoing<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: &'a str,
    data: &'a RawValue,
}

#[derive(Serialize)]
struct Accepted<'a> {
    id: &'a str,
    duplicate: bool,
}

#[derive(Serialize, Default)]
struct BatchSummary {
    accepted: usize,
    duplicates: usize,
    rejected: usize,
    results: Vec<ItemResult>,
}

#[derive(Serialize)]
struct ItemResult {
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ItemError>,
}

#[derive(Serialize)]
struct ItemError {
    code: &'static str,
    message: String,
}

impl ItemResult {
    fn accepted(id: String, duplicate: bool) -> Self {
        let status = if duplicate {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        Self {
            status: status.as_u16(),
            id: Some(id),
            duplicate: Some(duplicate),
            error: None,
        }
    }

    fn rejected(error: ApiError) -> Self {
        Self {
            status: error.status.as_u16(),
            id: None,
            duplicate: None,
            error: Some(ItemError {
                code: error.code,
                message: error.message,
            }),
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Incoming<'_>, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_event"
        } else {
            "malformed_json"
        };
        ApiError::bad_request(code, format!("the body is not a valid event: {e}"))
    })
}

/// `[A-Za-z0-9._:-]{1,128}`
fn is_valid_type(event_type: &str) -> bool {
    (1..=128).contains(&event_type.len())
        && (event_type.bytes())
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// 1 to 255 printable ASCII characters, no spaces: safe in logs, URLs and headers.
fn is_valid_id(id: &str) -> bool {
    (1..=255).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The sender's RFC 3339 timestamp in UTC, or the time of receipt.
fn normalize_timestamp(given: Option<&str>, received_at_ms: u64) -> Result<String, ApiError> {
    let invalid = |text: &str| {
        ApiError::bad_request(
            "invalid_timestamp",
            format!("the timestamp {text:?} is not RFC 3339, such as 2026-11-23T10:00:00Z"),
        )
    };
    let at = match given {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid(text))?,
        None => {
            let nanos = i128::from(received_at_ms) * 1_000_000;
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid("now"))?
        }
    };
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(&Rfc3339)
        .map_err(|_| invalid(given.unwrap_or("now")))
}

/// Serves ingest on `listener` until `stop` fires, then lets open requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Arc<Ingest>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::server::graceful::GracefulShutdown;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let ingest = ingest.clone();
        let service = hyper::service::service_fn(move |request| ingest.clone().handle(request));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "ingest connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_documented_alphabet() {
        assert!(is_valid_type("email.sent"));
        assert!(is_valid_type("a:b-c_d.E9"));
        assert!(!is_valid_type(""));
        assert!(!is_valid_type("has space"));
        assert!(!is_valid_type("slash/no"));
        assert!(!is_valid_type(&"x".repeat(129)));
    }

    #[test]
    fn timestamps_are_normalized_to_utc() {
        assert_eq!(
            normalize_timestamp(Some("2026-11-23T12:00:00+02:00"), 0).unwrap(),
            "2026-11-23T10:00:00Z"
        );
        assert_eq!(
            normalize_timestamp(None, 1_000).unwrap(),
            "1970-01-01T00:00:01Z"
        );
        assert!(normalize_timestamp(Some("yesterday"), 0).is_err());
    }
}
