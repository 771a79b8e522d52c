//! `/v1/replay`: bulk replay jobs, started, watched and cancelled.
//!
//! The request names what to replay by the same filters the deliveries list
//! takes; the job itself runs in the background ([`crate::replay`]), so the answer
//! is `202` and the job, whose id `GET /v1/replay/{id}` follows.

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::deliveries::parse_time;
use crate::api::{self, ApiError, Body};
use crate::replay::{Filter, Job, State};
use crate::server::Control;
use crate::store::DeliveryStatus;

/// The largest request body: a filter is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    webhook: Option<String>,
    #[serde(default = "failed")]
    status: DeliveryStatus,
    event_type: Option<String>,
    /// RFC 3339, on the deliveries' creation time.
    since: String,
    until: String,
}

fn failed() -> DeliveryStatus {
    DeliveryStatus::Failed
}

/// A job as the admin API shows it.
#[derive(Serialize)]
struct JobView {
    id: String,
    /// `running`, `done`, `cancelled` or `failed`.
    state: &'static str,
    filter: FilterView,
    scanned: u64,
    matched: u64,
    replayed: u64,
    skipped: u64,
    started_at: String,
    finished_at: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct FilterView {
    webhook: Option<String>,
    status: DeliveryStatus,
    event_type: Option<String>,
    since: String,
    until: String,
}

pub async fn start<B>(
    control: &Control,
    headers: &HeaderMap,
    body: B,
) -> Result<Response<Body>, ApiError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    api::require_json(headers)?;
    let body = api::read_body(headers, body, MAX_BODY).await?;
    let request: Request = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("the body is not a replay request: {e}"),
        )
    })?;
    let filter = filter(control, request)?;
    let job = control.replays().start(filter);
    let mut response = api::json(StatusCode::ACCEPTED, &view(job.clone()));
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/replay/{}", job.id)) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    Ok(response)
}

pub fn show(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    let job = control.replays().get(id).ok_or_else(|| not_found(id))?;
    Ok(api::json(StatusCode::OK, &view(job)))
}

/// Cancels a running job; a finished one is answered as it is.
pub fn cancel(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    let job = control.replays().cancel(id).ok_or_else(|| not_found(id))?;
    Ok(api::json(StatusCode::OK, &view(job)))
}

fn filter(control: &Control, request: Request) -> Result<Filter, ApiError> {
    if request.status == DeliveryStatus::Pending {
        return Err(ApiError::bad_request(
            "invalid_status",
            "pending deliveries are not done yet: replay succeeded, failed or filtered ones",
        ));
    }
    let since_ms = parse_time("since", &request.since)?;
    let until_ms = parse_time("until", &request.until)?;
    if since_ms > until_ms {
        return Err(ApiError::bad_request(
            "invalid_time",
            "since is after until",
        ));
    }
    if let Some(webhook) = &request.webhook {
        let config = control.config();
        if !config.webhooks.iter().any(|w| &*w.id == webhook) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "webhook_not_found",
                format!("no webhook {webhook} in the config"),
            ));
        }
    }
    Ok(Filter {
        webhook: request.webhook,
        status: request.status,
        event_type: request.event_type,
        since_ms,
        until_ms,
    })
}

fn view(job: Job) -> JobView {
    let (state, error) = match job.state {
        State::Running => ("running", None),
        State::Done => ("done", None),
        State::Cancelled => ("cancelled", None),
        State::Failed(error) => ("failed", Some(error)),
    };
    JobView {
        id: job.id,
        state,
        filter: FilterView {
            webhook: job.filter.webhook,
            status: job.filter.status,
            event_type: job.filter.event_type,
            since: api::timestamp(job.filter.since_ms),
            until: api::timestamp(job.filter.until_ms),
        },
        scanned: job.scanned,
        matched: job.matched,
        replayed: job.replayed,
        skipped: job.skipped,
        started_at: api::timestamp(job.started_at_ms),
        finished_at: job.finished_at_ms.map(api::timestamp),
        error,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "job_not_found",
        format!("no replay job {id} (jobs are kept in memory, until a restart)"),
    )
}
