//! The trace context an event's attempts continue, kept with the event.

use serde::{Deserialize, Serialize};

/// A W3C trace context: the sender's `traceparent` and `tracestate`, or ingest's
/// own span's. Stored as data; the telemetry module turns it into spans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The span the attempts are children of: ingest's, or the sender's.
    pub span_id: [u8; 8],
    pub flags: u8,
    /// The `tracestate` header as received; empty when there was none.
    pub state: String,
}
