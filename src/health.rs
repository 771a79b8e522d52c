//! `/healthz` and `/readyz`: the probes, answered alike on the ingest and the
//! admin listener, with no auth.
//!
//! They are on both because a load balancer in front of ingest probes ingest's
//! own port, and a router may run without `[admin]`. `GET` and `HEAD` both work:
//! many load balancers probe with `HEAD`. Not being ready (shutting down, or a
//! store that cannot write) is the answer the probe exists for, not an error, so
//! nothing here logs.

use http::{HeaderValue, Method, Response, StatusCode};
use hyper::body::Body as _;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{self, ApiError, Body};

/// Which probe a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/healthz`: the process is alive.
    Alive,
    /// `/readyz`: the router takes events.
    Ready,
}

/// The methods both probes answer.
pub const METHODS: &[Method] = &[Method::GET, Method::HEAD];

impl Probe {
    pub fn of(path: &str) -> Option<Self> {
        match path {
            "/healthz" => Some(Self::Alive),
            "/readyz" => Some(Self::Ready),
            _ => None,
        }
    }

    /// The probe's answer to `method`; `ready` is read only by `/readyz`.
    pub fn answer(self, method: &Method, ready: impl FnOnce() -> bool) -> Response<Body> {
        if !METHODS.contains(method) {
            return api::method_not_allowed(METHODS).into_response();
        }
        let answer = match self {
            Self::Alive => alive(),
            Self::Ready => readiness(ready()),
        };
        let response = answer.unwrap_or_else(ApiError::into_response);
        if method == Method::HEAD {
            without_body(response)
        } else {
            response
        }
    }
}

/// What `/healthz` and `/readyz` answer.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok`, or `ready`.
    status: &'static str,
}

/// `/healthz`: alive.
pub fn alive() -> Result<Response<Body>, ApiError> {
    Ok(api::json(StatusCode::OK, &Status { status: "ok" }))
}

/// `/readyz`: 200 when `ready`, else 503 `not_ready` with `Retry-After`.
pub fn readiness(ready: bool) -> Result<Response<Body>, ApiError> {
    if ready {
        Ok(api::json(StatusCode::OK, &Status { status: "ready" }))
    } else {
        Err(not_ready())
    }
}

/// The code of a 503 from `/readyz`: expected while stopping, so not logged as an error.
pub const NOT_READY: &str = "not_ready";

fn not_ready() -> ApiError {
    ApiError::unavailable(
        NOT_READY,
        "the router is shutting down, or its store cannot write (see the log and switchyard_store_writable)",
        5,
    )
}

/// The answer to a HEAD: the GET's status and headers, its length included, and no
/// body. hyper's HTTP/1.1 server would drop the body itself; dropping it here
/// keeps that true whatever protocol the connection speaks.
pub fn without_body(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let length = body.size_hint().exact().unwrap_or(0);
    parts
        .headers
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    Response::from_parts(parts, Body::default())
}
