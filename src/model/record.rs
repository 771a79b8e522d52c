//! The records of an event's way through: the event, its deliveries, their attempts.
//!
//! Every backend stores these as they are. Times are unix milliseconds, because due
//! times must survive a restart and `Instant` does not.

use serde::{Deserialize, Serialize};

use super::{DeliveryId, EventKey};

/// An accepted event, kept while deliveries reference it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The sender's id for it, or one we generated.
    pub id: String,
    pub sender: String,
    pub event_type: String,
    pub received_at_ms: u64,
    /// The JSON body delivered: `{"id", "type", "timestamp", "data"}`, built once at ingest.
    pub payload: Vec<u8>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or in flight).
    Pending,
    Succeeded,
    /// Dead: out of retries, or a permanent failure. Kept for inspection and replay.
    Failed,
    /// A plugin dropped it: never delivered, and not a failure.
    Filtered,
}

impl DeliveryStatus {
    /// Its name as the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Filtered => "filtered",
        }
    }
}

/// One event on its way to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub event: EventKey,
    pub event_id: String,
    pub event_type: String,
    pub webhook: String,
    pub status: DeliveryStatus,
    /// Attempts made so far in this round: since creation, or since the last replay.
    /// The retry schedule counts these.
    pub attempts: u32,
    /// Every attempt logged for it, across replays: the key of the last one in `ATTEMPTS`.
    pub logged_attempts: u32,
    /// How often an operator has replayed it.
    pub replays: u32,
    pub next_attempt_at_ms: Option<u64>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// Why an attempt failed, coarsely: what an operator filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The receiver answered, but not with a 2xx.
    Status,
    Dns,
    /// The SSRF guard refused the address the host resolved to.
    Blocked,
    Connect,
    Tls,
    Timeout,
    /// The connection broke before a whole response arrived.
    Reset,
    /// A plugin failed (trap, overrun, error or invalid output); no request was judged by it.
    Plugin,
    Other,
    /// The router ran short of a resource of its own (file descriptors, memory)
    /// before the request left: nothing the receiver did. Such an attempt is made
    /// again and counts toward nothing ([`super::Next::Deferred`]).
    Local,
}

impl ErrorKind {
    /// Its name as the API and the metrics spell it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Status => "status",
            ErrorKind::Dns => "dns",
            ErrorKind::Blocked => "blocked",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Plugin => "plugin",
            ErrorKind::Other => "other",
            ErrorKind::Local => "local",
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptError {
    pub kind: ErrorKind,
    pub message: String,
}

/// One HTTP attempt, successful or not, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub delivery: DeliveryId,
    pub webhook: String,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt of its round (since creation, or since a replay).
    pub number: u32,
    /// 0 for the original round, 1 after the first replay, ...
    pub replay: u32,
    pub url: String,
    /// The request's headers, without its signatures; the values of the webhook's
    /// static headers are redacted, as they often hold credentials.
    pub request_headers: Vec<(String, String)>,
    pub status_code: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// The first [`RESPONSE_EXCERPT_BYTES`] of the response body.
    pub response_body: Vec<u8>,
    pub error: Option<AttemptError>,
    pub duration_ms: u64,
    pub at_ms: u64,
    /// What each plugin in the webhook's chain said, in order.
    pub plugins: Vec<PluginNote>,
}

/// One plugin call made for an attempt, and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginNote {
    pub plugin: String,
    /// `filter`, `transform` or `classify`.
    pub hook: String,
    /// `kept`, `dropped`, `replaced`, a verdict, or `error: ...`.
    pub result: String,
}

/// How much of a response body the attempt log keeps.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;
