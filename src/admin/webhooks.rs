//! `/v1/webhooks`: each webhook's settings (never its secrets) and health, and
//! pausing and resuming its deliveries.
//!
//! A webhook's status is `disabled` when the config switches it off, else the
//! status kept in the store: `active`, `paused` by an operator, or `disabled` by
//! the router when its failures reached `disable_after` or its receiver answered
//! `410 Gone` (`on_gone = "disable"`). Pause and resume write
//! the store first and then hold or release the lane, so a restart in between
//! keeps what the operator asked for. Resume also brings back a webhook the
//! router disabled.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::STORE_UNAVAILABLE;
use super::page::{self, Page};
use super::store_error;
use crate::api::{self, ApiError, Body, ErrorBody};
use crate::config::Webhook;
use crate::control::Control;
use crate::model::{DisableAfter, OnGone, WebhookStatus};
use crate::plugin::OnPluginError;
use crate::signing::Scheme;
use crate::store::StoreError;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// The `next_cursor` of the previous page: the id of its last webhook.
    cursor: Option<String>,
    /// Webhooks per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A webhook as the admin API shows it: its settings, never its secrets or
/// static headers, and its health.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = Webhook)]
pub struct View {
    #[schema(value_type = String)]
    pub id: Arc<str>,
    pub url: String,
    /// The event type patterns it subscribes to.
    pub events: Vec<String>,
    /// `false` when the config switches it off.
    pub enabled: bool,
    /// `disabled` also when the config switches it off.
    pub status: WebhookStatus,
    pub signature: Scheme,
    pub timeout_ms: u128,
    pub max_in_flight: usize,
    pub retry_delays_ms: Vec<u128>,
    pub plugins: Vec<String>,
    pub on_plugin_error: OnPluginError,
    pub disable_after: Option<DisableAfterView>,
    /// What a `410 Gone` answer does: `disable` the webhook, or dead-letter (`dead`)
    /// that delivery only.
    pub on_gone: OnGone,
    /// Why it is disabled, while it is.
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime)]
    pub disabled_at: Option<String>,
    pub health: HealthView,
    /// Deliveries waiting for an attempt (or in one).
    pub pending: u64,
    /// How long the oldest of them has waited, in milliseconds.
    pub oldest_pending_age_ms: Option<u64>,
    /// Dead deliveries still kept: what a replay can bring back.
    pub failed: u64,
}

/// `disable_after` as the config writes it: a count of dead deliveries in a
/// row, or a duration of continuous failure (`5days`).
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = DisableAfter)]
#[serde(untagged)]
pub enum DisableAfterView {
    DeadDeliveries(u32),
    FailingFor(String),
}

impl From<DisableAfter> for DisableAfterView {
    fn from(policy: DisableAfter) -> Self {
        match policy {
            DisableAfter::DeadDeliveries(n) => Self::DeadDeliveries(n),
            DisableAfter::FailingFor(d) => {
                Self::FailingFor(humantime::format_duration(d).to_string())
            }
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthView {
    /// Consecutive failed attempts; reset by a success.
    pub failure_count: u32,
    #[schema(format = DateTime)]
    pub last_success_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_failed_at: Option<String>,
    /// The last attempt of any outcome.
    #[schema(format = DateTime)]
    pub last_delivered_at: Option<String>,
}

/// Every webhook in the config, in config order, paginated.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(ListQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "A page of webhooks", body = Page<View>),
        (status = 400, description = "`invalid_query`, `invalid_limit` or `invalid_cursor`", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn list(control: &Control, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let query: ListQuery = page::query(query)?;
    let limit = page::limit(query.limit)?;
    let config = control.config();
    let start = match &query.cursor {
        None => 0,
        Some(cursor) => {
            1 + (config.webhooks.iter())
                .position(|w| &*w.id == cursor)
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_cursor", "the cursor names no webhook")
                })?
        }
    };
    let mut data = Vec::with_capacity(limit.min(config.webhooks.len()));
    for webhook in config.webhooks.iter().skip(start).take(limit) {
        data.push(view(control, webhook).await.map_err(store_error)?);
    }
    let more = start + data.len() < config.webhooks.len();
    let next_cursor = more
        .then(|| data.last().map(|w| w.id.to_string()))
        .flatten();
    Ok(api::json(StatusCode::OK, &Page { data, next_cursor }))
}

/// One webhook.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id in the config")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The webhook", body = View),
        (status = 404, description = "`webhook_not_found`", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn show(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    let webhook = find(control, id).await?;
    let view = view(control, &webhook).await.map_err(store_error)?;
    Ok(api::json(StatusCode::OK, &view))
}

/// Holds a webhook's deliveries.
///
/// Ingest goes on accepting and queueing them; nothing is sent until a resume.
/// The pause is kept in the data file, so it outlives a restart.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/pause",
    operation_id = "pause_webhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id in the config")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The webhook, now paused", body = View),
        (status = 404, description = "`webhook_not_found`", body = ErrorBody),
        (status = 409, description = "`disabled_in_config`: the config switches it off", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn pause(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    hold(control, id, true).await
}

/// Sends what a webhook held, oldest due first, and carries on.
///
/// Also brings back a webhook the router disabled (`disable_after`, `on_gone`), with its
/// failure count started afresh.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/resume",
    operation_id = "resume_webhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id in the config")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The webhook, now active", body = View),
        (status = 404, description = "`webhook_not_found`", body = ErrorBody),
        (status = 409, description = "`disabled_in_config`: the config switches it off", body = ErrorBody),
        (status = 503, description = STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
pub async fn resume(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    hold(control, id, false).await
}

/// Pauses (`held`) or resumes a webhook's deliveries.
async fn hold(control: &Control, id: &str, held: bool) -> Result<Response<Body>, ApiError> {
    let webhook = find(control, id).await?;
    if !webhook.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "disabled_in_config",
            format!("webhook {id} is switched off in the config (enabled = false)"),
        ));
    }
    let status = if held {
        WebhookStatus::Paused
    } else {
        WebhookStatus::Active
    };
    control.set_status(id, status).await.map_err(store_error)?;
    let view = view(control, &webhook).await.map_err(store_error)?;
    Ok(api::json(StatusCode::OK, &view))
}

async fn find(control: &Control, id: &str) -> Result<Arc<Webhook>, ApiError> {
    let config = control.config();
    let found = config.webhooks.iter().find(|w| &*w.id == id).cloned();
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_not_found",
            format!("no webhook {id} in the config"),
        )
    })
}

/// A webhook's status: `disabled` when the config switches it off, else the store's.
pub(super) fn status_of(webhook: &Webhook, stored: WebhookStatus) -> WebhookStatus {
    if webhook.enabled {
        stored
    } else {
        WebhookStatus::Disabled
    }
}

async fn view(control: &Control, webhook: &Webhook) -> Result<View, StoreError> {
    let store = control.store();
    let health = store.health(&webhook.id).await?.unwrap_or_default();
    let status = status_of(webhook, health.status);
    let (disabled_reason, disabled_at) = match &health.disabled {
        _ if !webhook.enabled => (
            Some("switched off in the config (enabled = false)".into()),
            None,
        ),
        Some(d) if health.status == WebhookStatus::Disabled => {
            (Some(d.reason.clone()), Some(api::timestamp(d.at_ms)))
        }
        _ => (None, None),
    };
    let oldest = store.oldest_pending_ms(&webhook.id).await?;
    Ok(View {
        id: webhook.id.clone(),
        url: webhook.url.to_string(),
        events: webhook.events.patterns().to_vec(),
        enabled: webhook.enabled,
        status,
        signature: webhook.signer.scheme(),
        timeout_ms: webhook.timeout.as_millis(),
        max_in_flight: webhook.max_in_flight,
        retry_delays_ms: webhook.retry_delays.iter().map(|d| d.as_millis()).collect(),
        plugins: (webhook.plugins.iter())
            .map(|p| p.path.display().to_string())
            .collect(),
        on_plugin_error: webhook.on_plugin_error,
        disable_after: webhook.disable_after.map(DisableAfterView::from),
        on_gone: webhook.on_gone,
        disabled_reason,
        disabled_at,
        health: HealthView {
            failure_count: health.failure_count,
            last_success_at: health.last_success_at_ms.map(api::timestamp),
            last_failed_at: health.last_failed_at_ms.map(api::timestamp),
            last_delivered_at: health.last_delivered_at_ms.map(api::timestamp),
        },
        pending: store.pending_count(&webhook.id),
        oldest_pending_age_ms: oldest.map(|at| control.clock().now_ms().saturating_sub(at)),
        failed: health.failed_deliveries,
    })
}
