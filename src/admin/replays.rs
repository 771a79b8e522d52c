//! `/v1/replay`: bulk replay jobs, started, watched and cancelled.
//!
//! The request names what to replay by the same filters the deliveries list
//! takes; the job itself runs in the background ([`crate::replay`]), so the answer
//! is `202` and the job, whose id `GET /v1/replay/{id}` follows.

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::deliveries::parse_time;
use crate::api::{self, ApiError, Body, ErrorBody};
use crate::control::Control;
use crate::model::DeliveryStatus;
use crate::replay::{Filter, Job, State};

/// The largest request body: a filter is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;

/// What to replay: the deliveries created from `since` to `until`, both
/// included, that match every filter given.
#[derive(Deserialize, ToSchema)]
#[schema(as = ReplayRequest)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Only this webhook's deliveries.
    webhook: Option<String>,
    /// `failed`, `succeeded` or `filtered`; not `pending`.
    #[serde(default = "failed")]
    #[schema(default = failed)]
    status: DeliveryStatus,
    /// Only deliveries of this event type.
    event_type: Option<String>,
    /// RFC 3339, on the deliveries' creation time.
    #[schema(format = DateTime)]
    since: String,
    #[schema(format = DateTime)]
    until: String,
}

fn failed() -> DeliveryStatus {
    DeliveryStatus::Failed
}

/// A bulk replay job as the admin API shows it.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = ReplayJob)]
pub struct JobView {
    pub id: String,
    pub state: StateView,
    pub filter: FilterView,
    /// Deliveries read.
    pub scanned: u64,
    /// Deliveries that fit the filter.
    pub matched: u64,
    /// Deliveries queued again.
    pub replayed: u64,
    /// Deliveries not replayed: their webhook is gone or switched off, or they
    /// were no longer finished when their turn came.
    pub skipped: u64,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Why the job failed, when it did.
    pub error: Option<String>,
}

/// Where a job stands: `running`, then `done`, `cancelled` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ReplayState)]
#[serde(rename_all = "lowercase")]
pub enum StateView {
    Running,
    Done,
    Cancelled,
    Failed,
}

/// The job's filter, as it was asked for.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = ReplayFilter)]
pub struct FilterView {
    pub webhook: Option<String>,
    pub status: DeliveryStatus,
    pub event_type: Option<String>,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime)]
    pub until: String,
}

/// Why a job is refused while the most that may run at once are running.
const TOO_MANY_JOBS: &str = "`too_many_jobs`: 4 jobs, the most that may run at once, are \
    running already; start this one once one of them is done or cancelled";
// The text above names the cap: keep the two together.
const _: () = assert!(crate::replay::MAX_RUNNING == 4);

/// Starts a bulk replay job in the background.
///
/// It replays each delivery as `POST /v1/deliveries/{id}/replay` does, oldest
/// first, throttled so it cannot starve live traffic.
#[utoipa::path(
    post,
    path = "/v1/replay",
    operation_id = "start_replay",
    tag = "replay",
    request_body = Request,
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Started: the job", body = JobView,
            headers(("Location" = String, description = "`/v1/replay/{id}`, where the job can be followed"))),
        (status = 400, description = "`invalid_request` (not JSON, a missing `since` or `until`, an unknown key), `invalid_status` (`pending`) or `invalid_time`", body = ErrorBody),
        (status = 404, description = "`webhook_not_found`", body = ErrorBody),
        (status = 429, description = TOO_MANY_JOBS, body = ErrorBody),
        api::BodyErrors,
    )
)]
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
    let job = control.replays().start(filter).map_err(|e| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_jobs",
            e.to_string(),
        )
    })?;
    let mut response = api::json(StatusCode::ACCEPTED, &view(job.clone()));
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/replay/{}", job.id)) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    Ok(response)
}

/// A bulk replay job and its progress.
///
/// Jobs are kept in memory, the last 100 finished ones: a restart forgets them.
#[utoipa::path(
    get,
    path = "/v1/replay/{id}",
    operation_id = "get_replay",
    tag = "replay",
    params(("id" = String, Path, description = "The job id (`rpl_...`)")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "`job_not_found`", body = ErrorBody),
    )
)]
pub fn show(control: &Control, id: &str) -> Result<Response<Body>, ApiError> {
    let job = control.replays().get(id).ok_or_else(|| not_found(id))?;
    Ok(api::json(StatusCode::OK, &view(job)))
}

/// Cancels a running job after its current step; a finished one is answered as it is.
#[utoipa::path(
    delete,
    path = "/v1/replay/{id}",
    operation_id = "cancel_replay",
    tag = "replay",
    params(("id" = String, Path, description = "The job id (`rpl_...`)")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The job, cancelled unless it had finished", body = JobView),
        (status = 404, description = "`job_not_found`", body = ErrorBody),
    )
)]
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
        State::Running => (StateView::Running, None),
        State::Done => (StateView::Done, None),
        State::Cancelled => (StateView::Cancelled, None),
        State::Failed(error) => (StateView::Failed, Some(error)),
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
