//! The admin API: the operator's HTTP surface, on a listener of its own.
//!
//! Every route but `/healthz` and `/readyz` wants `Authorization: Bearer <admin
//! token>`: the token of the config in force, so a reload can rotate it.
//! `GET /metrics` also takes the read-only metrics token, so the credentials a
//! Prometheus server holds cannot pause or replay anything. A presented token is
//! hashed and the digests compared in constant time, so the comparison gives
//! nothing away. The probes are [`crate::health`]'s, shared with ingest.
//!
//! Routes are matched by [`matchit`]; each handler lives in the module of what it
//! acts on ([`webhooks`], ...) and answers JSON, with errors in the shape every
//! Switchyard API uses ([`crate::api`]). List routes are cursor-paginated
//! ([`page`]). The OpenAPI document of every route is generated from the
//! handlers and the types they answer ([`openapi`]).

mod deliveries;
mod openapi;
mod page;
mod replays;
mod webhooks;

// What the API answers, public so that a client (the `switchyard` command)
// decodes the very types the router encodes instead of picking through JSON.
pub use deliveries::{AttemptView, DeliveryView, EventView, HeaderView};
pub use page::Page;
pub use replays::{FilterView, JobView, StateView};
pub use webhooks::{DisableAfterView, HealthView, View as WebhookView};

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::api::{self, ApiError, Body, ErrorBody};
use crate::config::{self, Secret};
use crate::control::{Control, ReloadError, Reloaded};
use crate::health;
use crate::metrics::Format;
use crate::store::StoreError;

/// The admin API's state, shared by every connection.
pub struct Admin {
    control: Arc<Control>,
    /// The tokens the API started with: the ones it keeps should a reload drop the
    /// `[admin]` section (the listener itself stays until a restart).
    first: config::Admin,
    routes: matchit::Router<Route>,
}

/// What a path names; the method is checked by the handler's match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Healthz,
    Readyz,
    Metrics,
    Reload,
    Webhooks,
    Webhook,
    Pause,
    Resume,
    Deliveries,
    Delivery,
    Replay,
    Event,
    BulkReplay,
    ReplayJob,
    OpenApi,
}

/// Every route: its path pattern, and the methods it answers.
const ROUTES: &[(&str, Route, &[Method])] = &[
    ("/healthz", Route::Healthz, &[Method::GET, Method::HEAD]),
    ("/readyz", Route::Readyz, &[Method::GET, Method::HEAD]),
    ("/metrics", Route::Metrics, &[Method::GET]),
    ("/v1/reload", Route::Reload, &[Method::POST]),
    ("/v1/webhooks", Route::Webhooks, &[Method::GET]),
    ("/v1/webhooks/{id}", Route::Webhook, &[Method::GET]),
    ("/v1/webhooks/{id}/pause", Route::Pause, &[Method::POST]),
    ("/v1/webhooks/{id}/resume", Route::Resume, &[Method::POST]),
    ("/v1/deliveries", Route::Deliveries, &[Method::GET]),
    ("/v1/deliveries/{id}", Route::Delivery, &[Method::GET]),
    ("/v1/deliveries/{id}/replay", Route::Replay, &[Method::POST]),
    ("/v1/events/{id}", Route::Event, &[Method::GET]),
    ("/v1/replay", Route::BulkReplay, &[Method::POST]),
    (
        "/v1/replay/{id}",
        Route::ReplayJob,
        &[Method::GET, Method::DELETE],
    ),
    ("/v1/openapi.json", Route::OpenApi, &[Method::GET]),
];

impl Admin {
    pub fn new(control: Arc<Control>, settings: &config::Admin) -> Self {
        let mut routes = matchit::Router::new();
        for (path, route, _) in ROUTES {
            // The table is ours and has no conflicting patterns; a test covers every route.
            if let Err(e) = routes.insert(*path, *route) {
                tracing::error!(path, error = %e, "admin route not registered");
            }
        }
        Self {
            control,
            first: settings.clone(),
            routes,
        }
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
        let head = request.method() == Method::HEAD;
        let result = self.route(request).await;
        if let Err(e) = &result
            && e.status.is_server_error()
            && e.code != health::NOT_READY
        {
            tracing::error!(code = e.code, message = %e.message, "admin request failed");
        }
        let response = api::respond(result);
        if head {
            return response.map(health::without_body);
        }
        response
    }

    async fn route<B>(&self, request: Request<B>) -> Result<Response<Body>, ApiError>
    where
        B: hyper::body::Body,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = request.uri().path();
        let found = self.routes.at(path).map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route for {path}"),
            )
        })?;
        // Matched on the raw path, so a `%2F` stays inside its segment; the handler
        // gets the id as the client meant it. Ids are ASCII: a decoding that is not
        // UTF-8 names nothing, and is answered as an unknown id.
        let id = (found.params.get("id")).map(|raw| percent_decode_str(raw).decode_utf8_lossy());
        let (route, id) = (*found.value, id.map(Cow::into_owned));
        check_method(route, request.method())?;
        if !matches!(route, Route::Healthz | Route::Readyz) {
            self.authenticate(request.headers(), route)?;
        }
        let control = &self.control;
        let id = id.unwrap_or_default();
        let (parts, body) = request.into_parts();
        let query = parts.uri.query();
        match route {
            Route::Healthz if parts.method == Method::HEAD => healthz_head(),
            Route::Healthz => healthz(),
            Route::Readyz if parts.method == Method::HEAD => ready_head(control),
            Route::Readyz => ready(control),
            Route::Metrics => metrics(control, &parts.headers).await,
            Route::Reload => reload(control).await,
            Route::Webhooks => webhooks::list(control, query).await,
            Route::Webhook => webhooks::show(control, &id).await,
            Route::Pause => webhooks::pause(control, &id).await,
            Route::Resume => webhooks::resume(control, &id).await,
            Route::Deliveries => deliveries::list(control, query).await,
            Route::Delivery => deliveries::show(control, &id).await,
            Route::Replay => deliveries::replay(control, &id).await,
            Route::Event => deliveries::event(control, &id, query).await,
            Route::BulkReplay => replays::start(control, &parts.headers, body).await,
            Route::ReplayJob if parts.method == Method::DELETE => replays::cancel(control, &id),
            Route::ReplayJob => replays::show(control, &id),
            Route::OpenApi => openapi::document(),
        }
    }

    /// The admin token may do everything; the metrics token, if there is one, only
    /// `GET /metrics` (403 elsewhere, so a scraper's token is known for what it is).
    fn authenticate(&self, headers: &HeaderMap, route: Route) -> Result<(), ApiError> {
        let token = api::bearer_token(headers).ok_or_else(|| {
            api::unauthorized("missing_token", "send Authorization: Bearer <admin token>")
        })?;
        let config = self.control.config();
        let settings = config.admin.as_ref().unwrap_or(&self.first);
        if same_secret(token, &settings.token) {
            return Ok(());
        }
        match &settings.metrics_token {
            Some(metrics) if same_secret(token, metrics) => {
                if route == Route::Metrics {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "metrics_only",
                        "the metrics token may only read GET /metrics",
                    ))
                }
            }
            _ => Err(api::unauthorized(
                "invalid_token",
                "that is not the admin token",
            )),
        }
    }
}

/// Whether `token` is `expected`: the SHA-256 digests compared in constant time,
/// so neither the comparison nor the lengths give anything away.
fn same_secret(token: &str, expected: &Secret) -> bool {
    let expected: [u8; 32] = Sha256::digest(expected.expose().as_bytes()).into();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    bool::from(digest.ct_eq(&expected))
}

/// The routes' paths and methods, for the docs and the tests.
pub fn routes() -> impl Iterator<Item = (&'static str, &'static [Method])> {
    ROUTES.iter().map(|(path, _, methods)| (*path, *methods))
}

fn check_method(route: Route, method: &Method) -> Result<(), ApiError> {
    let (_, _, allowed) = ROUTES
        .iter()
        .find(|(_, r, _)| *r == route)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route"))?;
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(api::method_not_allowed(allowed))
    }
}

/// Whether the process is alive. No auth.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = health::Status))
)]
fn healthz() -> Result<Response<Body>, ApiError> {
    health::alive()
}

/// Whether the store takes writes and the router is not shutting down. No auth.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = health::Status),
        (status = 503, description = "`not_ready`, with `Retry-After`", body = ErrorBody),
    )
)]
fn ready(control: &Control) -> Result<Response<Body>, ApiError> {
    health::readiness(control.is_ready())
}

/// `GET /healthz` without the body, for probes and load balancers that ask with HEAD.
#[utoipa::path(
    head,
    path = "/healthz",
    operation_id = "healthz_head",
    tag = "operations",
    responses((status = 200, description = "Alive; the headers of `GET /healthz`, no body"))
)]
fn healthz_head() -> Result<Response<Body>, ApiError> {
    healthz()
}

/// `GET /readyz` without the body, for probes and load balancers that ask with HEAD.
#[utoipa::path(
    head,
    path = "/readyz",
    operation_id = "readyz_head",
    tag = "operations",
    responses(
        (status = 200, description = "Ready; the headers of `GET /readyz`, no body"),
        (status = 503, description = "Not ready, with `Retry-After`; no body"),
    )
)]
fn ready_head(control: &Control) -> Result<Response<Body>, ApiError> {
    ready(control)
}

fn store_error(error: StoreError) -> ApiError {
    tracing::error!(%error, "admin: cannot read or write the store");
    ApiError::unavailable("store_unavailable", "the store cannot be read right now", 1)
}

/// The metrics, with each webhook's queue read from the store now.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    security(("admin_token" = []), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus metrics: OpenMetrics when `Accept` offers `application/openmetrics-text` at least as highly as `text/plain`, else the Prometheus text format 0.0.4",
            content(
                (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
                (String = "text/plain; version=0.0.4; charset=utf-8"),
            )),
        (status = 503, description = openapi::STORE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn metrics(control: &Control, headers: &HeaderMap) -> Result<Response<Body>, ApiError> {
    let store = control.store();
    let now = control.clock().now_ms();
    control.metrics().store_writable(store.is_writable());
    let config = control.config();
    (control.metrics()).scraped_webhooks(config.webhooks.iter().map(|w| &*w.id));
    for webhook in &config.webhooks {
        let pending = store.pending_count(&webhook.id);
        // A store that cannot be read now leaves the ages and statuses as they
        // were: the metrics that say why matter most at such a time.
        let status = webhooks::status_of(webhook, store.status(&webhook.id));
        let oldest = match store.oldest_pending_ms(&webhook.id).await {
            Ok(oldest) => oldest,
            Err(error) => {
                tracing::warn!(%error, "metrics: cannot read the webhooks' queues and health");
                break;
            }
        };
        let age = Duration::from_millis(oldest.map_or(0, |at| now.saturating_sub(at)));
        control.metrics().queue(&webhook.id, pending, age);
        control.metrics().webhook_status(&webhook.id, status.name());
    }
    if let Some(bytes) = store.usage().bytes {
        control.metrics().file_size(bytes);
    }
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let mut response = Response::new(Body::from(control.metrics().render(format)));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // The answer depends on `Accept`: a cache in between must not mix them up.
    headers.insert(http::header::VARY, HeaderValue::from_static("accept"));
    Ok(response)
}

/// What `POST /v1/reload` answers: the webhooks it changed, by id.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = Reloaded)]
pub struct ReloadAnswer {
    #[schema(value_type = Vec<String>)]
    pub started: Vec<Arc<str>>,
    #[schema(value_type = Vec<String>)]
    pub updated: Vec<Arc<str>>,
    #[schema(value_type = Vec<String>)]
    pub stopped: Vec<Arc<str>>,
    /// Pending deliveries the stopped webhooks leave on disk.
    pub held: Vec<Held>,
    /// Changed settings that only a restart applies.
    #[schema(value_type = Vec<String>)]
    pub need_restart: Vec<Cow<'static, str>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Held {
    #[schema(value_type = String)]
    pub webhook: Arc<str>,
    pub pending: u64,
}

/// Re-reads the config file and applies it, as SIGHUP does.
///
/// A config or plugin that fails validation is refused, and the running config
/// carries on.
#[utoipa::path(
    post,
    path = "/v1/reload",
    operation_id = "reload",
    tag = "operations",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Applied: what changed", body = ReloadAnswer),
        (status = 422, description = "`invalid_config` or `invalid_plugins`; the message names every problem", body = ErrorBody),
    )
)]
async fn reload(control: &Control) -> Result<Response<Body>, ApiError> {
    let Reloaded {
        lanes,
        held,
        need_restart,
    } = control.reload_file().await.map_err(|e| {
        let code = match e {
            // A client that cannot be built is a TLS setting rustls refused.
            ReloadError::Config(_) | ReloadError::Client(_) => "invalid_config",
            ReloadError::Plugins(_) => "invalid_plugins",
        };
        tracing::error!(error = %e, "reload refused; the running config stays");
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
    })?;
    let held = (held.into_iter())
        .map(|(webhook, pending)| Held { webhook, pending })
        .collect();
    let answer = ReloadAnswer {
        started: lanes.started,
        updated: lanes.updated,
        stopped: lanes.stopped,
        held,
        need_restart: need_restart.into_iter().map(Cow::Borrowed).collect(),
    };
    Ok(api::json(StatusCode::OK, &answer))
}
