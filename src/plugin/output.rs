//! What a transform may hand back: a body the receiver can read as the type the
//! request says, and headers that cannot change how the request is framed.
//!
//! The router sends a transform's body as it is, signed, with
//! `Content-Type: application/json` unless the transform declares another type
//! by returning a `content-type` header. So a body without one must be JSON (an
//! empty body is not), and a declared type must be a valid media type. Headers
//! that would change the HTTP framing or the connection (hop-by-hop headers,
//! `content-length`, `content-encoding`, `expect`, `host`), or that the router
//! sets itself (signatures, user agent), are refused, as are oversized values:
//! each one at most [`MAX_HEADER_VALUE`] bytes, all of them at most
//! [`MAX_HEADER_BYTES`]. A refused answer fails the call as `invalid`.

use http::{HeaderName, HeaderValue};

use super::{CallError, MAX_TEXT, Transformed, cut_marked};

/// The most headers a transform may add.
pub const MAX_HEADERS: usize = 64;
/// The longest header value a transform may return.
pub const MAX_HEADER_VALUE: usize = 8 * 1024;
/// The most bytes of header names and values one transform may return.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Headers a transform may not send: the connection's and the message framing's,
/// which only the router's HTTP client may set, beside those
/// [`crate::headers::is_reserved_header`] keeps for the router.
const FRAMING: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
    "expect",
    "host",
];

/// A transform's answer, if it keeps within the output limit, its body is of
/// the type it says, and it sends only headers the router may send.
pub fn checked_transform(
    transformed: Transformed,
    output_bytes: usize,
) -> Result<Transformed, CallError> {
    let replacement = match transformed {
        Transformed::Replaced(replacement) => replacement,
        Transformed::Dropped(reason) => {
            return Ok(Transformed::Dropped(cut_marked(reason, MAX_TEXT)));
        }
        Transformed::Unchanged => return Ok(Transformed::Unchanged),
    };
    if replacement.body.len() > output_bytes {
        return Err(CallError::Output(replacement.body.len(), output_bytes));
    }
    if let Some(event_type) = &replacement.event_type
        && !crate::model::is_event_type(event_type)
    {
        return Err(invalid(format!(
            "the event type {:?} is not valid",
            cut_marked(event_type.clone(), MAX_TEXT)
        )));
    }
    check_headers(&replacement.headers)?;
    let declared = (replacement.headers.iter()).find(|(name, _)| is_content_type(name));
    match declared {
        Some((_, media_type)) => {
            if media_type.parse::<mime::Mime>().is_err() {
                return Err(invalid(format!(
                    "the content type {:?} is not a media type",
                    cut_marked(media_type.clone(), MAX_TEXT)
                )));
            }
        }
        None => {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&replacement.body) {
                return Err(invalid(format!(
                    "the body is not JSON ({e}), and no content-type header says what it is"
                )));
            }
        }
    }
    Ok(Transformed::Replaced(replacement))
}

fn check_headers(headers: &[(String, String)]) -> Result<(), CallError> {
    if headers.len() > MAX_HEADERS {
        return Err(invalid(format!("more than {MAX_HEADERS} headers")));
    }
    let mut total = 0;
    let mut content_types = 0;
    for (name, value) in headers {
        let refused = |why: &str| {
            invalid(format!(
                "the header {:?} {why}",
                cut_marked(name.clone(), MAX_TEXT)
            ))
        };
        let Ok(parsed) = HeaderName::try_from(name.as_str()) else {
            return Err(refused("is not a valid header name"));
        };
        if is_content_type(name) {
            content_types += 1;
        } else if crate::headers::is_reserved_header(&parsed)
            || FRAMING.contains(&parsed.as_str())
            || parsed.as_str().starts_with("proxy-")
        {
            return Err(refused("cannot be sent by a plugin"));
        }
        if value.len() > MAX_HEADER_VALUE {
            return Err(refused(&format!(
                "has a value of {} bytes, over {MAX_HEADER_VALUE}",
                value.len()
            )));
        }
        if HeaderValue::try_from(value.as_str()).is_err() {
            return Err(refused("has a value that is not a valid header value"));
        }
        total += name.len() + value.len();
    }
    if total > MAX_HEADER_BYTES {
        return Err(invalid(format!(
            "the headers take {total} bytes, over {MAX_HEADER_BYTES}"
        )));
    }
    if content_types > 1 {
        return Err(invalid("more than one content-type header".into()));
    }
    Ok(())
}

pub fn is_content_type(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-type")
}

fn invalid(message: String) -> CallError {
    CallError::Invalid(message)
}
