//! The error answer every Switchyard API gives, `{"error": {"code", "message"}}`,
//! its OpenAPI schema, and the errors several routes share (401, 405).

use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use serde::Serialize;

use super::{Body, json};

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
