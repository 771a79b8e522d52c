//! The headers the router sets on every delivery itself, which neither a
//! webhook's static `headers` in the config nor a plugin's output may set.
//!
//! A leaf module of its own so that the config (which checks static headers)
//! and the plugin host (which checks what a transform hands back) share one
//! rule without importing each other.

use http::HeaderName;

/// Headers the router sets itself; a static header may not override them.
/// Hop-by-hop headers are among them: they would break HTTP/2 requests.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    // The trace context of the attempt (docs/delivery.md).
    "traceparent",
    "tracestate",
];

/// Whether the router sets `name` itself, so neither a config nor a plugin may.
pub fn is_reserved_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    RESERVED_HEADERS.contains(&name)
        || name.starts_with("webhook-")
        || name.starts_with("x-webhook-")
}
