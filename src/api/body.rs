//! Reading a request body: JSON only where a route says so, never more than the
//! route's limit, and never for longer than its timeout, so a slow or oversized
//! body costs the router a bounded amount of memory and time.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

use super::error::{ApiError, error_response};

/// How long a client may take to send a request body, unless the route says.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

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
