//! `/v1/deliveries` and `/v1/events`: what was delivered where, attempt by attempt,
//! and replaying what failed.
//!
//! A replay queues the delivery again under the same id, through the same path
//! as any delivery (plugins, signing afresh, the retry schedule from its first
//! attempt); its earlier attempts stay in its log.

use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::openapi::STORE_UNAVAILABLE;
use super::page::{self, Page};
use super::store_error;
use crate::api::{self, ApiError, Body, ErrorBody};
use crate::control::Control;
use crate::model::{
    AttemptError, AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus, EventRecord,
    PluginNote, Replayed,
};
use crate::store::DeliveryQuery;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only this webhook's deliveries.
    webhook: Option<String>,
    status: Option<DeliveryStatus>,
    /// Only deliveries of this event type.
    event_type: Option<String>,
    /// RFC 3339: only deliveries created at or after it.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339: only deliveries created at or before it.
    #[param(format = DateTime)]
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Deliveries per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A delivery as the admin API shows it: the list has `last_attempt`, one
/// delivery alone its whole `attempt_log`.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub webhook: String,
    pub status: DeliveryStatus,
    /// Attempts in the current round (since creation or the last replay).
    pub attempts: u32,
    pub replays: u32,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<AttemptView>,
    /// Every attempt, in order, across replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
}

/// One HTTP attempt.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = Attempt)]
pub struct AttemptView {
    /// 1 for the first attempt of its round (since creation, or since a replay).
    pub number: u32,
    /// 0 for the original round, 1 after the first replay, ...
    pub replay: u32,
    #[schema(format = DateTime)]
    pub at: String,
    pub duration_ms: u64,
    pub url: String,
    /// The request's headers, without the signatures; the values of the
    /// webhook's static headers are redacted.
    pub request_headers: Vec<HeaderView>,
    pub status_code: Option<u16>,
    pub response_headers: Vec<HeaderView>,
    /// The start of the response body, as text.
    pub response_body: String,
    pub error: Option<AttemptError>,
    pub plugins: Vec<PluginNote>,
}

/// One header of an attempt's request or response, in order, repeats kept.
///
/// An object rather than the `[name, value]` pair the store keeps: a pair is a
/// tuple schema, which client generators refuse.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = Header)]
pub struct HeaderView {
    pub name: String,
    pub value: String,
}

/// Deliveries, newest first, each with its last attempt.
///
/// One call reads at most 20,000 deliveries, so a page can be short, even
/// empty, and still have a `next_cursor`: follow it until it is `null`.
#[utoipa::path(
    get,
    path = "/v1/deliveries",
    operation_id = "list_deliveries",
    tag = "deliveries",
    params(ListQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<DeliveryView>),
        (status = 400, description = "`invalid_query`, `invalid_limit`, `invalid_cursor` or `invalid_time`", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn list(control: &Control, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let query: ListQuery = page::query(query)?;
    let limit = page::limit(query.limit)?;
    let from = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let filter = DeliveryQuery {
        webhook: query.webhook.clone(),
        status: query.status,
        event_type: query.event_type.clone(),
        since_ms: query
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until_ms: query
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        oldest_first: false,
    };
    let listed = (control.store())
        .list_deliveries(filter, from, limit)
        .await
        .map_err(store_error)?;
    let data = (listed.deliveries.into_iter())
        .map(|(id, delivery, last)| DeliveryView {
            last_attempt: last.map(attempt_view),
            ..delivery_view(id, delivery)
        })
        .collect();
    let next_cursor = listed.next.map(|id| id.to_string());
    Ok(api::json(StatusCode::OK, &Page { data, next_cursor }))
}

/// One delivery, with its whole attempt log.
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    operation_id = "get_delivery",
    tag = "deliveries",
    params(("id" = String, Path, description = "The delivery id (`dlv_...`)")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The delivery", body = DeliveryView),
        (status = 400, description = "`invalid_id`: not a delivery id", body = ErrorBody),
        (status = 404, description = "`delivery_not_found`", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn show(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    let id = parse_id(id)?;
    let store = control.store();
    let delivery = store.delivery(id).await.map_err(store_error)?;
    let delivery = delivery.ok_or_else(|| not_found(id))?;
    let attempts = store.attempts(id).await.map_err(store_error)?;
    let view = DeliveryView {
        attempt_log: Some(attempts.into_iter().map(attempt_view).collect()),
        ..delivery_view(id, delivery)
    };
    Ok(api::json(StatusCode::OK, &view))
}

/// Queues a succeeded, failed or filtered delivery again.
///
/// Same delivery id, due now, through the webhook's current plugins, signed
/// afresh, with the retry schedule from its first attempt.
#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/replay",
    operation_id = "replay_delivery",
    tag = "replay",
    params(("id" = String, Path, description = "The delivery id (`dlv_...`)")),
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Queued: the delivery, now pending", body = DeliveryView),
        (status = 400, description = "`invalid_id`: not a delivery id", body = ErrorBody),
        (status = 404, description = "`delivery_not_found`", body = ErrorBody),
        (status = 409, description = "`still_pending`, or `webhook_not_running`: its webhook is gone from the config or switched off", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn replay(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    let id = parse_id(id)?;
    let store = control.store();
    let delivery = store.delivery(id).await.map_err(store_error)?;
    let delivery = delivery.ok_or_else(|| not_found(id))?;
    // Queued for a webhook without a lane, it would sit pending unseen.
    let config = control.config();
    let running = (config.webhooks.iter()).any(|w| *w.id == delivery.webhook && w.enabled);
    if !running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "webhook_not_running",
            format!(
                "webhook {} is not in the config or is switched off; add or enable it first",
                delivery.webhook
            ),
        ));
    }
    match control.replay(id).await.map_err(store_error)? {
        Replayed::Queued(delivery) => {
            tracing::info!(delivery = %id, webhook = delivery.webhook, "delivery replayed");
            Ok(api::json(
                StatusCode::ACCEPTED,
                &delivery_view(id, delivery),
            ))
        }
        Replayed::StillPending => Err(ApiError::new(
            StatusCode::CONFLICT,
            "still_pending",
            format!("delivery {id} is still pending; replay it once it has succeeded or failed"),
        )),
        Replayed::NotFound => Err(not_found(id)),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    /// The sender that posted it; without it, senders are searched in config order.
    sender: Option<String>,
}

/// An event as a sender posted it, with its payload and deliveries.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = StoredEvent)]
pub struct EventView {
    pub id: String,
    pub sender: String,
    pub event_type: String,
    #[schema(format = DateTime)]
    pub received_at: String,
    /// The payload as delivered (before any plugin): the very JSON text, byte for
    /// byte, or a string should the stored bytes somehow not be JSON.
    #[schema(value_type = Value)]
    pub payload: Box<RawValue>,
    pub deliveries: Vec<DeliveryView>,
}

/// The event a sender posted with `id`: senders are searched in config order,
/// unless `?sender=` names one.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    operation_id = "get_event",
    tag = "events",
    params(("id" = String, Path, description = "The event id the sender gave or got"), EventQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The event and its deliveries", body = EventView),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 404, description = "`event_not_found`: none is kept (events go once their deliveries are purged)", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn event(
    control: &Control,
    id: &str,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let query: EventQuery = page::query(query)?;
    let config = control.config();
    let senders: Vec<&str> = match &query.sender {
        Some(sender) => vec![sender.as_str()],
        None => config.senders.iter().map(|s| &*s.name).collect(),
    };
    let store = control.store();
    for sender in senders {
        let Some(event) = store
            .event_by_sender_id(sender, id)
            .await
            .map_err(store_error)?
        else {
            continue;
        };
        let deliveries = store.deliveries_of(sender, id).await.map_err(store_error)?;
        return Ok(api::json(StatusCode::OK, &event_view(event, deliveries)));
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "event_not_found",
        format!("no event {id} is kept (events go once their deliveries are purged)"),
    ))
}

fn event_view(event: EventRecord, deliveries: Vec<(DeliveryId, DeliveryRecord)>) -> EventView {
    let payload = stored_json(&event.payload);
    EventView {
        id: event.id,
        sender: event.sender,
        event_type: event.event_type,
        received_at: api::timestamp(event.received_at_ms),
        payload,
        deliveries: (deliveries.into_iter())
            .map(|(id, d)| delivery_view(id, d))
            .collect(),
    }
}

/// The stored payload as it is. Parsing it into a tree would lose what a tree
/// cannot hold: integers past 64 bits, duplicate keys, key order, numbers past
/// f64, nesting past serde_json's depth limit. Ingest built it as JSON, so the
/// string is only for a record that is somehow not.
fn stored_json(payload: &[u8]) -> Box<RawValue> {
    serde_json::from_slice(payload).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(payload);
        serde_json::value::to_raw_value(&text).unwrap_or_default()
    })
}

fn delivery_view(id: DeliveryId, delivery: DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: id.to_string(),
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        webhook: delivery.webhook,
        status: delivery.status,
        attempts: delivery.attempts,
        replays: delivery.replays,
        next_attempt_at: delivery.next_attempt_at_ms.map(api::timestamp),
        created_at: api::timestamp(delivery.created_at_ms),
        updated_at: api::timestamp(delivery.updated_at_ms),
        last_attempt: None,
        attempt_log: None,
    }
}

fn attempt_view(attempt: AttemptRecord) -> AttemptView {
    AttemptView {
        number: attempt.number,
        replay: attempt.replay,
        at: api::timestamp(attempt.at_ms),
        duration_ms: attempt.duration_ms,
        url: attempt.url,
        request_headers: header_views(attempt.request_headers),
        status_code: attempt.status_code,
        response_headers: header_views(attempt.response_headers),
        response_body: String::from_utf8_lossy(&attempt.response_body).into_owned(),
        error: attempt.error,
        plugins: attempt.plugins,
    }
}

fn header_views(pairs: Vec<(String, String)>) -> Vec<HeaderView> {
    (pairs.into_iter())
        .map(|(name, value)| HeaderView { name, value })
        .collect()
}

fn parse_id(id: &str) -> Result<DeliveryId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("{id:?} is not a delivery id (dlv_...)"),
        )
    })
}

fn parse_cursor(cursor: &str) -> Result<DeliveryId, ApiError> {
    cursor
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_cursor", "not a cursor from this list"))
}

pub(super) fn parse_time(name: &str, text: &str) -> Result<u64, ApiError> {
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        ApiError::bad_request(
            "invalid_time",
            format!("{name}={text:?} is not RFC 3339, such as 2026-11-24T10:00:00Z"),
        )
    })?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::bad_request("invalid_time", format!("{name} is before 1970")))
}

fn not_found(id: DeliveryId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "delivery_not_found",
        format!("no delivery {id} is kept"),
    )
}
