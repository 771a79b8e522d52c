//! Ingest: the HTTP endpoint senders post events to.
//!
//! `POST /v1/events` takes one event, `POST /v1/events/batch` up to
//! [`MAX_BATCH`]. The probes, `/healthz` and `/readyz`, are answered here too
//! ([`crate::health`]), for the load balancer in front of this listener. A request is answered 2xx only after its events, their dedupe
//! keys and their deliveries are durably committed; the commit is shared with
//! every other request in flight (see [`crate::store`]), which is what makes
//! durable acks fast. The store's change feed then wakes the lanes of the
//! webhooks that got new deliveries, so a first attempt starts at once.
//!
//! Who may post, which webhooks each event type is routed to, and the limits on
//! bodies and dedupe form the [`Routing`]: one immutable snapshot, taken once per
//! request and replaced whole by a reload, so a request never sees half of one
//! config and half of the next.
//!
//! Building the event itself, from the body, is [`event`]'s.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use http::{HeaderMap, Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use utoipa::ToSchema;

mod event;
mod screen;

pub use event::{BuiltEvent, build_event};

use crate::access;
use crate::api::{self, ApiError, Body, ErrorBody};
use crate::config::{Config, Sender, Webhook};
use crate::health;
use crate::log_limit::LogLimit;
use crate::metrics::Metrics;
use crate::model::{Clock, Ingested, NewEvent, Next, TraceContext};
use crate::plugin::Chain;
use crate::store::{Store, StoreError};
use crate::telemetry::Telemetry;
use event::{Incoming, build, parse_json};
use screen::Screens;

/// The most events one batch request may carry.
pub const MAX_BATCH: usize = 1000;

/// One event a request.
const EVENTS: &str = "/v1/events";
/// Up to [`MAX_BATCH`] events a request.
const BATCH: &str = "/v1/events/batch";

/// Every endpoint: its path, and the methods it answers.
const ENDPOINTS: &[(&str, &[Method])] = &[(EVENTS, &[Method::POST]), (BATCH, &[Method::POST])];

/// The endpoints' paths and methods, for the docs and the tests.
pub fn routes() -> impl Iterator<Item = (&'static str, &'static [Method])> {
    ENDPOINTS.iter().copied()
}

/// Memory, in KiB, that request bodies and the payloads built from them may hold
/// at once. Past it, requests are refused with 503 rather than queued: under a
/// flood, memory stays bounded and senders back off. It is reserved as bytes
/// arrive, twice over (the body, and the payloads built from it), so a body that
/// trickles in holds only what has come; and one sender may hold at most its
/// share of it ([`sender_share_kib`]), so no sender can starve the others.
const MEMORY_BUDGET_KIB: u32 = 256 * 1024;

/// The part of [`MEMORY_BUDGET_KIB`] one sender may hold: an equal share among the
/// senders, and never less than a quarter of the whole.
fn sender_share_kib(senders: usize) -> u32 {
    let senders = u32::try_from(senders.max(1)).unwrap_or(u32::MAX);
    (MEMORY_BUDGET_KIB / senders).max(MEMORY_BUDGET_KIB / 4)
}

/// The ingest service's state, shared by every connection.
pub struct Ingest {
    routes: RwLock<Arc<Routing>>,
    store: Store,
    metrics: Arc<Metrics>,
    clock: Clock,
    draining: AtomicBool,
    memory: Arc<Semaphore>,
    /// Refusals (503, 408) to log, at most once a second.
    refusals: LogLimit,
    telemetry: Telemetry,
}

/// The part of the config ingest works from; see the module docs.
struct Routing {
    /// Senders by the SHA-256 of their token: a lookup that takes the same time
    /// whichever byte of a guessed token is wrong.
    senders: HashMap<[u8; 32], Arc<str>>,
    /// Each sender's share of the memory budget, by name.
    shares: HashMap<Arc<str>, Arc<Semaphore>>,
    /// The enabled webhooks.
    webhooks: Vec<Arc<Webhook>>,
    /// Those whose filters run as their events arrive.
    screens: Screens,
    max_body_bytes: usize,
    body_timeout: std::time::Duration,
    dedupe_window_ms: u64,
}

impl Ingest {
    /// Ingest for `config`, whose webhooks run `chains`.
    pub fn new(
        config: &Config,
        chains: &[(Arc<Webhook>, Arc<Chain>)],
        store: Store,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        Self {
            routes: RwLock::new(Arc::new(Routing::new(config, chains))),
            store,
            metrics,
            clock,
            draining: AtomicBool::new(false),
            memory: Arc::new(Semaphore::new(MEMORY_BUDGET_KIB as usize)),
            refusals: LogLimit::default(),
            telemetry: Telemetry::off(),
        }
    }

    /// Traces each request, and keeps the trace context with its events.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Routing every request that starts from now on by `config` and its webhooks'
    /// `chains`; requests already in progress finish by the routes they started with.
    pub fn reroute(&self, config: &Config, chains: &[(Arc<Webhook>, Arc<Chain>)]) {
        let routes = Arc::new(Routing::new(config, chains));
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = routes;
    }

    fn routes(&self) -> Arc<Routing> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// From now on every request is refused with 503, so senders retry elsewhere or later.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
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
        let path = request.uri().path();
        if let Some(probe) = health::Probe::of(path) {
            return Ok(probe.answer(request.method(), || self.is_ready()));
        }
        let Some(&(route, methods)) = ENDPOINTS.iter().find(|(p, _)| *p == path) else {
            let message = format!("no route for {path}");
            return api::respond(Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                message,
            )));
        };
        if !methods.contains(request.method()) {
            return api::respond(Err(api::method_not_allowed(methods)));
        }
        let started = std::time::Instant::now();
        let batch = route == BATCH;
        let span = tracing::info_span!(
            "ingest",
            sender = tracing::field::Empty,
            events = tracing::field::Empty
        );
        let trace = self.telemetry.ingest(request.headers(), route);
        let mut sender = None;
        let result = (self.accept(request, batch, trace.context(), &mut sender))
            .instrument(span)
            .await;
        if let Err(refusal) = &result {
            self.count_refusal(refusal);
        }
        let mut response = result.unwrap_or_else(ApiError::into_response);
        (self.metrics).ingest_answered(response.status(), started.elapsed());
        trace.end(response.status());
        if let Some(sender) = sender {
            response.extensions_mut().insert(access::Sender(sender));
        }
        Ok(response)
    }

    /// Whether ingest takes events: not shutting down, and the store takes writes.
    pub fn is_ready(&self) -> bool {
        !self.is_draining() && self.store.is_writable()
    }

    /// Takes the request's events; `sender_out` is set once the sender is known,
    /// for the access log, whatever the answer.
    async fn accept<B>(
        &self,
        request: Request<B>,
        batch: bool,
        trace: Option<&TraceContext>,
        sender_out: &mut Option<Arc<str>>,
    ) -> Result<Response<Body>, ApiError>
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
        let routes = self.routes();
        let sender = routes.authenticate(request.headers())?;
        tracing::Span::current().record("sender", &*sender);
        *sender_out = Some(sender.clone());
        api::require_json(request.headers())?;
        let mut memory = Reservation {
            global: self.memory.clone(),
            share: routes.share(&sender),
            held: None,
            kib: 0,
        };
        let (parts, body) = request.into_parts();
        let (limit, timeout) = (routes.max_body_bytes, routes.body_timeout);
        let body = api::read_body_metered(&parts.headers, body, limit, timeout, |bytes| {
            memory.grow_to(bytes)
        })
        .await?;
        if batch {
            accept_batch(self, &routes, &sender, &body, trace).await
        } else {
            accept_one(self, &routes, &sender, &body, trace).await
        }
    }

    /// Counts a request refused for the router's sake (503) or for its slowness
    /// (408), and logs it, throttled: these are what an overload or an attack
    /// looks like from here.
    fn count_refusal(&self, refusal: &ApiError) {
        let reason = refusal.code;
        if !matches!(
            refusal.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT
        ) {
            return;
        }
        self.metrics.ingest_refused(reason);
        if let Some(refused) = self.refusals.hit() {
            tracing::warn!(reason, refused, status = refusal.status.as_u16(),
                message = %refusal.message, "ingest refusing requests");
        }
    }

    /// Screens `events` and commits them. The store's change feed wakes their
    /// lanes; a sender that hangs up mid-commit drops this handler, but the write
    /// is queued and stands.
    async fn commit(
        &self,
        routes: &Routing,
        mut events: Vec<NewEvent>,
    ) -> Result<Vec<Ingested>, ApiError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        routes.screens.apply(&mut events).await;
        // Counted once stored, as the lane counts a filtered attempt once recorded.
        let filtered: Vec<Vec<(Arc<str>, u64)>> = (events.iter())
            .map(|event| {
                (event.filtered_out.iter())
                    .map(|out| (out.webhook.clone(), out.duration_ms))
                    .collect()
            })
            .collect();
        let error = match self.store.ingest(events, routes.dedupe_window_ms).await {
            Ok(ingested) => {
                for (ingested, filtered) in ingested.iter().zip(filtered) {
                    if *ingested != Ingested::New {
                        continue;
                    }
                    for (webhook, ms) in filtered {
                        let took = std::time::Duration::from_millis(ms);
                        self.metrics
                            .attempted(&webhook, Next::Filtered.name(), took);
                    }
                }
                return Ok(ingested);
            }
            Err(e) => e,
        };
        tracing::error!(%error, "cannot store events");
        Err(match error {
            StoreError::Closed => {
                ApiError::unavailable("shutting_down", "the router is shutting down", 5)
            }
            _ => ApiError::unavailable("store_unavailable", "events cannot be stored right now", 1),
        })
    }
}

/// What ingest answers when it cannot take events now.
const UNAVAILABLE: &str = "`store_unavailable`, `shutting_down` or `overloaded`, with `Retry-After`: \
    nothing was stored, so retrying with the same ids is safe";

/// Takes one event.
///
/// Answered only once the event and one delivery per subscribed webhook are
/// committed to disk. An id this sender already sent within `dedupe_window` is
/// a duplicate: nothing new is stored or delivered.
#[utoipa::path(
    post,
    path = "/v1/events",
    operation_id = "post_event",
    tag = "ingest",
    request_body = Incoming,
    security(("sender_token" = [])),
    responses(
        (status = 202, description = "Stored, to be delivered", body = Accepted),
        (status = 200, description = "A duplicate: stored before", body = Accepted),
        (status = 400, description = "`malformed_json`, `invalid_event`, `invalid_type`, `invalid_id` or `invalid_timestamp`", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
        api::BodyErrors,
    )
)]
async fn accept_one(
    ingest: &Ingest,
    routes: &Routing,
    sender: &Arc<str>,
    body: &[u8],
    trace: Option<&TraceContext>,
) -> Result<Response<Body>, ApiError> {
    let now = ingest.clock.now_ms();
    let event = (parse_json(body).and_then(|e| routes.prepare(sender, e, trace, now)))
        .inspect_err(|_| ingest.metrics.ingested(sender, "rejected"))?;
    tracing::Span::current().record("events", event.id.as_str());
    let id = event.id.clone();
    let ingested = ingest.commit(routes, vec![event]).await?;
    let duplicate = ingested.first() == Some(&Ingested::Duplicate);
    ingest.metrics.ingested(sender, outcome_name(duplicate));
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(api::json(status, &Accepted { id: &id, duplicate }))
}

/// Takes 1 to 1000 events in one commit.
///
/// Invalid items are reported in `results`, in request order, and do not stop
/// the valid ones. The same id twice in one batch: the second is a duplicate.
#[utoipa::path(
    post,
    path = "/v1/events/batch",
    operation_id = "post_event_batch",
    tag = "ingest",
    request_body = Vec<Incoming>,
    security(("sender_token" = [])),
    responses(
        (status = 202, description = "Stored: what became of each event", body = BatchSummary),
        (status = 400, description = "`malformed_json` (not an array) or `invalid_batch` (0 or over 1000 events). When no event is valid, nothing is stored and the body is a `BatchSummary` with `error` set beside the `results`", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
        api::BodyErrors,
    )
)]
async fn accept_batch(
    ingest: &Ingest,
    routes: &Routing,
    sender: &Arc<str>,
    body: &[u8],
    trace: Option<&TraceContext>,
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
    let mut answers: Vec<Result<String, ApiError>> = Vec::with_capacity(items.len());
    let mut valid = Vec::with_capacity(items.len());
    let now = ingest.clock.now_ms();
    for item in items {
        let event = parse_json(item.get().as_bytes());
        match event.and_then(|e| routes.prepare(sender, e, trace, now)) {
            Ok(event) => {
                answers.push(Ok(event.id.clone()));
                valid.push(event);
            }
            Err(e) => answers.push(Err(e)),
        }
    }
    let mut ingested = (ingest.commit(routes, valid).await?).into_iter();
    let mut summary = BatchSummary::default();
    for answer in answers {
        let result = match answer {
            Ok(id) => {
                let duplicate = ingested.next() == Some(Ingested::Duplicate);
                ingest.metrics.ingested(sender, outcome_name(duplicate));
                *(if duplicate {
                    &mut summary.duplicates
                } else {
                    &mut summary.accepted
                }) += 1;
                ItemResult::accepted(id, duplicate)
            }
            Err(e) => {
                summary.rejected += 1;
                ingest.metrics.ingested(sender, "rejected");
                ItemResult::rejected(e)
            }
        };
        summary.results.push(result);
    }
    if summary.rejected == summary.results.len() {
        // Nothing was stored: an error, in the error shape, with the reasons per item.
        summary.error = Some(ItemError {
            code: "invalid_batch",
            message: "no event in the batch is valid; see results".into(),
        });
        return Ok(api::json(StatusCode::BAD_REQUEST, &summary));
    }
    Ok(api::json(StatusCode::ACCEPTED, &summary))
}

/// Memory held for one request, grown as its body arrives; given back when dropped.
struct Reservation {
    global: Arc<Semaphore>,
    share: Arc<Semaphore>,
    held: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
    kib: u32,
}

impl Reservation {
    /// Holds enough for a body of `bytes` and the payloads built from it.
    fn grow_to(&mut self, bytes: usize) -> Result<(), ApiError> {
        let kib = u32::try_from(bytes.saturating_mul(2).div_ceil(1024)).unwrap_or(u32::MAX);
        let Some(more) = kib.checked_sub(self.kib).filter(|more| *more > 0) else {
            return Ok(());
        };
        let share = (self.share.clone().try_acquire_many_owned(more)).map_err(|_| {
            ApiError::unavailable(
                "overloaded",
                "this sender has too much in flight; retry shortly",
                1,
            )
        })?;
        let global = (self.global.clone().try_acquire_many_owned(more)).map_err(|_| {
            ApiError::unavailable("overloaded", "too much is in flight; retry shortly", 1)
        })?;
        match &mut self.held {
            Some((held_share, held_global)) => {
                held_share.merge(share);
                held_global.merge(global);
            }
            None => self.held = Some((share, global)),
        }
        self.kib = kib;
        Ok(())
    }
}

impl Routing {
    fn new(config: &Config, chains: &[(Arc<Webhook>, Arc<Chain>)]) -> Self {
        let share = sender_share_kib(config.senders.len()) as usize;
        Self {
            shares: (config.senders.iter())
                .map(|s| (s.name.clone(), Arc::new(Semaphore::new(share))))
                .collect(),
            senders: config.senders.iter().map(sender_entry).collect(),
            webhooks: (config.webhooks.iter())
                .filter(|w| w.enabled)
                .cloned()
                .collect(),
            screens: Screens::new(chains),
            max_body_bytes: config.server.max_body_bytes,
            body_timeout: config.server.body_timeout,
            dedupe_window_ms: u64::try_from(config.server.dedupe_window.as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    /// `sender`'s share of the memory budget.
    fn share(&self, sender: &Arc<str>) -> Arc<Semaphore> {
        let share = self.shares.get(sender).cloned();
        // Every authenticated sender has one; a fresh one is only a safe default.
        share.unwrap_or_else(|| Arc::new(Semaphore::new(sender_share_kib(1) as usize)))
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<str>, ApiError> {
        let token = api::bearer_token(headers).ok_or_else(|| {
            api::unauthorized("missing_token", "send Authorization: Bearer <sender token>")
        })?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        (self.senders.get(&digest).cloned()).ok_or_else(|| {
            api::unauthorized("invalid_token", "the token does not belong to any sender")
        })
    }

    /// Validates an incoming event and routes it to the webhooks that subscribe to
    /// its type; its attempts will continue `trace`.
    fn prepare(
        &self,
        sender: &Arc<str>,
        event: Incoming<'_>,
        trace: Option<&TraceContext>,
        received_at_ms: u64,
    ) -> Result<NewEvent, ApiError> {
        let built = build(event, received_at_ms)?;
        let webhooks = (self.webhooks.iter())
            .filter(|w| w.events.matches(&built.event_type))
            .map(|w| w.id.clone())
            .collect();
        let event = NewEvent::new(
            sender.clone(),
            built.id,
            built.event_type,
            built.received_at_ms,
            built.payload,
        );
        Ok(NewEvent {
            webhooks,
            trace: trace.cloned(),
            ..event
        })
    }
}

/// A stored event's outcome, as metrics name it.
fn outcome_name(duplicate: bool) -> &'static str {
    if duplicate { "duplicate" } else { "accepted" }
}

fn sender_entry(sender: &Sender) -> ([u8; 32], Arc<str>) {
    (
        Sha256::digest(sender.token.expose().as_bytes()).into(),
        sender.name.clone(),
    )
}

/// A stored event.
#[derive(Serialize, ToSchema)]
struct Accepted<'a> {
    /// The event's id, as sent or generated.
    id: &'a str,
    duplicate: bool,
}

/// What became of each event of a batch.
#[derive(Serialize, Default, ToSchema)]
struct BatchSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ItemError>,
    accepted: usize,
    duplicates: usize,
    rejected: usize,
    results: Vec<ItemResult>,
}

/// One event of a batch: accepted (`id`, `duplicate`) or rejected (`error`).
#[derive(Serialize, ToSchema)]
#[schema(as = BatchItem)]
struct ItemResult {
    /// What a request of this event alone would have been answered: 202, 200 or 400.
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ItemError>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BatchItemError)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_holds_at_most_its_share_of_the_memory_budget() {
        let global = Arc::new(Semaphore::new(100));
        let share = Arc::new(Semaphore::new(10));
        let reserve = || Reservation {
            global: global.clone(),
            share: share.clone(),
            held: None,
            kib: 0,
        };
        let mut first = reserve();
        first.grow_to(2 * 1024).unwrap(); // 4 KiB: the body and its payload
        first.grow_to(2 * 1024 + 1).unwrap();
        assert_eq!(first.kib, 5, "grown by what arrived, not reserved anew");
        let mut second = reserve();
        let refused = second.grow_to(3 * 1024).unwrap_err();
        assert_eq!(
            (refused.status, refused.code),
            (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
        );
        assert_eq!(
            global.available_permits(),
            95,
            "the refused request holds nothing"
        );
        drop(first);
        assert_eq!(
            (global.available_permits(), share.available_permits()),
            (100, 10)
        );
        second.grow_to(3 * 1024).unwrap();
        assert_eq!(sender_share_kib(1), MEMORY_BUDGET_KIB);
        assert_eq!(sender_share_kib(2), MEMORY_BUDGET_KIB / 2);
        assert_eq!(sender_share_kib(100), MEMORY_BUDGET_KIB / 4);
    }
}
