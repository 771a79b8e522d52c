//! What the router's HTTP APIs share: the error shape, JSON responses, and
//! bounded body reading. The accept loop they are served by is the `listener`'s.
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` with a stable,
//! machine-readable `code`, so clients branch on the code and show the message.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::Serialize;

pub type Body = Full<Bytes>;

/// How long a client may take to send a request body, unless the route says.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Headers the answer needs: `Retry-After` on a 503, `Allow` on a 405, ...
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503: the service cannot take this now; retry after `seconds`.
    pub fn unavailable(code: &'static str, message: impl Into<String>, seconds: u32) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            .with_header(RETRY_AFTER, HeaderValue::from(seconds))
    }

    pub fn into_response(self) -> Response<Body> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = json(self.status, &body);
        response.headers_mut().extend(self.headers);
        response
    }
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable and machine-readable, such as `webhook_not_found`: branch on it.
    pub code: &'a str,
    /// For people; its wording may change.
    pub message: &'a str,
}

/// An error answer in the OpenAPI document: [`ErrorBody`], described.
pub fn error_response(description: impl Into<String>) -> utoipa::openapi::Response {
    use utoipa::ToSchema;
    let schema = utoipa::openapi::Ref::from_schema_name(ErrorBody::name());
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::Content::new(Some(schema)),
        )
        .build()
}

/// The answers [`require_json`] and [`read_body`] refuse a body with, for the
/// OpenAPI document of every route that takes one.
pub struct BodyErrors;

impl utoipa::IntoResponses for BodyErrors {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        let timeout = format!(
            "`body_timeout`: the body took over {} s to arrive",
            BODY_TIMEOUT.as_secs()
        );
        [
            (StatusCode::REQUEST_TIMEOUT, timeout),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "`body_too_large`: over the route's limit".into(),
            ),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "`unsupported_media_type`: send `Content-Type: application/json`".into(),
            ),
        ]
        .into_iter()
        .map(|(status, text)| (status.as_str().to_owned(), error_response(text).into()))
        .collect()
    }
}

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

/// Unix milliseconds as RFC 3339 in UTC, as every API shows times.
pub fn timestamp(ms: u64) -> String {
    use time::format_description::well_known::Rfc3339;
    let nanos = i128::from(ms) * 1_000_000;
    (time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// 401, asking for a bearer token.
pub fn unauthorized(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message).with_header(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer"),
    )
}

/// 405 for a route that answers only `allowed`, with the `Allow` header.
pub fn method_not_allowed(allowed: &[http::Method]) -> ApiError {
    let names: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("use {}", names.join(" or ")),
    );
    match HeaderValue::from_str(&names.join(", ")) {
        Ok(allow) => error.with_header(http::header::ALLOW, allow),
        Err(_) => error,
    }
}

/// Turns a handler's result into a response.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Result<Response<Body>, Infallible> {
    Ok(result.unwrap_or_else(ApiError::into_response))
}

/// 415 unless the request says its body is JSON.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let essence = content_type.map(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON, with Content-Type: application/json",
        )),
    }
}

/// The `Content-Length` a request declares, if it is readable.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Reads a request body of at most `limit` bytes, within [`BODY_TIMEOUT`].
pub async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    read_body_metered(headers, body, limit, BODY_TIMEOUT, |_| Ok(())).await
}

/// [`read_body`] within `timeout`, telling `arrived` how many bytes have arrived
/// so far each time more do: a caller that accounts for memory reserves it as
/// the bytes come, not up front for a body that may trickle in for the whole
/// `timeout`. An error from `arrived` ends the read with it.
pub async fn read_body_metered<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
    timeout: Duration,
    mut arrived: impl FnMut(usize) -> Result<(), ApiError>,
) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    use bytes::{Buf, BufMut};
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over the limit of {limit} bytes"),
        )
    };
    let declared = content_length(headers);
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut collected = bytes::BytesMut::new();
    let mut body = std::pin::pin!(body);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(
                    "bad_body",
                    format!("cannot read the body: {e}"),
                ));
            }
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    "the body did not arrive in time",
                ));
            }
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        let total = collected.len() + data.remaining();
        if total > limit {
            return Err(too_large());
        }
        arrived(total)?;
        // A body that comes in one frame, as most do, is kept as it came, uncopied.
        if collected.is_empty() && body.is_end_stream() {
            return Ok(data.copy_to_bytes(data.remaining()));
        }
        collected.put(data);
    }
}
