//! What the router's HTTP APIs share: the error shape, JSON responses, and
//! bounded body reading. The accept loop they are served by is the `listener`'s.
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` with a stable,
//! machine-readable `code`, so clients branch on the code and show the message.
//!
//! One module per job: the error answers ([`error`]), reading a request body
//! ([`body`]), the time format ([`time`]); what is left here turns a handler's
//! result into a response. Everything is re-exported, so callers name
//! `crate::api::ApiError` whichever file it lives in.

mod body;
mod error;
mod time;

use std::convert::Infallible;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

pub use body::{
    BODY_TIMEOUT, BodyErrors, content_length, read_body, read_body_metered, require_json,
};
pub use error::{
    ApiError, ErrorBody, ErrorDetail, error_response, method_not_allowed, unauthorized,
};
pub use time::timestamp;

pub type Body = Full<Bytes>;

/// A JSON response. Serializing our own plain types cannot fail; if it somehow
/// did, the client gets a 500 rather than the process a panic.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(bytes) => (status, bytes),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"error":{"code":"internal","message":"cannot encode the response"}}"#.to_vec(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Turns a handler's result into a response.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Result<Response<Body>, Infallible> {
    Ok(result.unwrap_or_else(ApiError::into_response))
}
