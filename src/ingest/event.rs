//! Building an event from what a sender posted: validating it, and the payload
//! receivers will get. Apart from the HTTP service, because tools that start from
//! the same JSON (`switchyard plugin run`) build events exactly as ingest does.
//!
//! The body is never parsed into a JSON tree: `data` stays the sender's raw text,
//! and the payload delivered is built around it once, here.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::api::ApiError;
use crate::model::{is_event_id, is_event_type};

/// An event as ingest validated it, with the payload receivers will get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltEvent {
    pub id: String,
    pub event_type: String,
    pub received_at_ms: u64,
    /// `{"id", "type", "timestamp", "data"}`, with `data` as the sender wrote it.
    pub payload: Vec<u8>,
}

/// Validates one event as a sender would post it, and builds its payload: what
/// ingest does, for tools (`switchyard plugin run`) that start from the same JSON.
pub fn build_event(body: &[u8], received_at_ms: u64) -> Result<BuiltEvent, ApiError> {
    build(parse_json(body)?, received_at_ms)
}

pub(super) fn build(event: Incoming<'_>, received_at_ms: u64) -> Result<BuiltEvent, ApiError> {
    let event_type = (event.event_type.as_deref())
        .ok_or_else(|| ApiError::bad_request("invalid_type", "the event needs a \"type\""))?;
    if !is_event_type(event_type) {
        return Err(ApiError::bad_request(
            "invalid_type",
            format!("the type {event_type:?} must be 1 to 128 of A-Z a-z 0-9 . _ : -"),
        ));
    }
    let data = event.data.ok_or_else(|| {
        ApiError::bad_request("invalid_event", "the event needs \"data\" (any JSON value)")
    })?;
    let id = match event.id {
        Some(id) if is_event_id(&id) => id.into_owned(),
        Some(id) => {
            return Err(ApiError::bad_request(
                "invalid_id",
                format!(
                    "the id {id:?} must be 1 to 255 printable ASCII characters, without spaces"
                ),
            ));
        }
        None => format!("evt_{}", uuid::Uuid::now_v7().simple()),
    };
    let timestamp = normalize_timestamp(event.timestamp.as_deref(), received_at_ms)?;
    let payload = serde_json::to_vec(&Outgoing {
        id: &id,
        event_type,
        timestamp: &timestamp,
        data,
    })
    .map_err(|e| ApiError::bad_request("invalid_event", e.to_string()))?;
    Ok(BuiltEvent {
        id,
        event_type: event_type.to_owned(),
        received_at_ms,
        payload,
    })
}

/// An event as a sender posts it. Unknown fields are refused, so a typo is an
/// error rather than silently dropped data.
#[derive(Deserialize, ToSchema)]
#[schema(as = IncomingEvent)]
#[serde(deny_unknown_fields)]
pub(super) struct Incoming<'a> {
    // `Cow`, not `&str`: a string with an escape (`"order\/1"`) cannot be borrowed.
    /// Generated (`evt_...`) when absent.
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    id: Option<Cow<'a, str>>,
    /// 1 to 128 of `A-Z a-z 0-9 . _ : -`.
    #[serde(borrow, default, rename = "type")]
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    event_type: Option<Cow<'a, str>>,
    // `Some` even for `null`: a null payload is data, only an absent one is missing.
    /// Any JSON value, `null` included; passed through byte for byte.
    #[serde(borrow, default, deserialize_with = "present")]
    #[schema(value_type = Value, required = true)]
    data: Option<&'a RawValue>,
    /// RFC 3339; normalized to UTC. Defaults to the time of receipt.
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    timestamp: Option<Cow<'a, str>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The payload receivers get.
#[derive(Serialize)]
struct Outgoing<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: &'a str,
    data: &'a RawValue,
}

pub(super) fn parse_json(body: &[u8]) -> Result<Incoming<'_>, ApiError> {
    let event = serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_event"
        } else {
            "malformed_json"
        };
        ApiError::bad_request(code, format!("the body is not a valid event: {e}"))
    })?;
    // serde fills a struct from a JSON array too, field by field in order; an event
    // is an object, and a sender whose array happens to fit has a bug to hear about.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::bad_request(
            "invalid_event",
            "the body is not a valid event: an event is a JSON object",
        ));
    }
    Ok(event)
}

/// The sender's RFC 3339 timestamp in UTC, or the time of receipt.
fn normalize_timestamp(given: Option<&str>, received_at_ms: u64) -> Result<String, ApiError> {
    let invalid = |text: &str| {
        ApiError::bad_request(
            "invalid_timestamp",
            format!("the timestamp {text:?} is not RFC 3339, such as 2026-11-23T10:00:00Z"),
        )
    };
    let at = match given {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid(text))?,
        None => {
            let nanos = i128::from(received_at_ms) * 1_000_000;
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid("now"))?
        }
    };
    // A valid local time can fall outside the years RFC 3339 can write once in UTC.
    let utc = at.checked_to_offset(time::UtcOffset::UTC);
    let formatted = utc.and_then(|utc| utc.format(&Rfc3339).ok());
    formatted.ok_or_else(|| invalid(given.unwrap_or("now")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_documented_alphabet() {
        assert!(is_event_type("email.sent"));
        assert!(is_event_type("a:b-c_d.E9"));
        assert!(!is_event_type(""));
        assert!(!is_event_type("has space"));
        assert!(!is_event_type("slash/no"));
        assert!(!is_event_type(&"x".repeat(129)));
    }

    #[test]
    fn timestamps_are_normalized_to_utc() {
        assert_eq!(
            normalize_timestamp(Some("2026-11-23T12:00:00+02:00"), 0).unwrap(),
            "2026-11-23T10:00:00Z"
        );
        assert_eq!(
            normalize_timestamp(None, 1_000).unwrap(),
            "1970-01-01T00:00:01Z"
        );
        assert!(normalize_timestamp(Some("yesterday"), 0).is_err());
    }
}
