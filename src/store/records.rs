//! The records the store keeps, and the ids that name them.
//!
//! Records are serde types encoded with postcard: compact, fast, and schema-checked
//! by the store's version number rather than by self-description. Times are unix
//! milliseconds, because due times must survive a restart and `Instant` does not.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Now, in unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The smallest id (of any kind here: all are UUIDv7s) created at `ms`.
pub(super) fn first_id_at(ms: u64) -> u128 {
    u128::from(ms.min((1 << 48) - 1)) << 80
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        ///
        /// A UUIDv7: time-ordered, so keys sort by creation and pages read oldest first.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u128);

        impl $name {
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().as_u128())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:032x}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let hex = s.strip_prefix($prefix).ok_or(InvalidId)?;
                if hex.len() != 32 {
                    return Err(InvalidId);
                }
                u128::from_str_radix(hex, 16).map(Self).map_err(|_| InvalidId)
            }
        }
    };
}

id_type!(
    /// A delivery: one event to one webhook. Sent as `webhook-id`, stable across retries and replays.
    DeliveryId,
    "dlv_"
);
id_type!(
    /// The store's own key for an event; the sender-facing id is [`EventRecord::id`].
    EventKey,
    "evk_"
);

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

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

/// Whether a webhook delivers (`active`) or holds its deliveries (`paused`, `disabled`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Delivering.
    #[default]
    Active,
    /// Disabled by the router after failing for too long ([`DisableAfter`]):
    /// deliveries are accepted and held, as when paused, until an operator resumes it.
    Disabled,
    /// Paused by an operator: deliveries are accepted and held until it is resumed.
    Paused,
}

impl WebhookStatus {
    /// Its name as the API and the metrics spell it.
    pub fn name(self) -> &'static str {
        match self {
            WebhookStatus::Active => "active",
            WebhookStatus::Disabled => "disabled",
            WebhookStatus::Paused => "paused",
        }
    }

    /// Whether the webhook's deliveries wait instead of being sent.
    pub fn holds(self) -> bool {
        self != WebhookStatus::Active
    }
}

/// When the router disables a failing webhook by itself, holding its deliveries
/// rather than spending retries on a receiver that is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableAfter {
    /// This many deliveries in a row ended dead, with no success between them.
    DeadDeliveries(u32),
    /// Every attempt has failed for this long (Svix disables after 5 days).
    FailingFor(std::time::Duration),
}

/// What a webhook does when its receiver answers `410 Gone`.
///
/// The Standard Webhooks spec says a sender should disable the endpoint: a SaaS
/// customer who deletes an endpoint expects the events to stop, not to be
/// dead-lettered one by one. Disabling holds them, as `disable_after` does, so a
/// receiver retired by mistake loses nothing: a resume sends them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnGone {
    /// Disable the webhook, holding its deliveries (the one that met the 410
    /// included) until an operator resumes it.
    #[default]
    Disable,
    /// Dead-letter that delivery only, and carry on with the others.
    Dead,
}

/// Why the router disabled a webhook whose receiver answered `410 Gone`.
pub const GONE_REASON: &str = "410 Gone: the receiver retired this endpoint";

/// Why and when the router disabled a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    pub at_ms: u64,
    pub reason: String,
}

/// A webhook's health, as AutoSend reports it: updated on every attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Consecutive failed attempts; reset by a success.
    pub failure_count: u32,
    pub last_success_at_ms: Option<u64>,
    pub last_failed_at_ms: Option<u64>,
    /// The last attempt of any outcome.
    pub last_delivered_at_ms: Option<u64>,
    pub status: WebhookStatus,
    /// Its dead deliveries still kept: the failed ones an operator may replay.
    pub failed_deliveries: u64,
    /// Deliveries in a row that ended dead; reset by a success and by a resume.
    pub dead_streak: u32,
    /// When the current run of failed attempts began; reset by a success and by a resume.
    pub failing_since_ms: Option<u64>,
    /// Set while the router holds it disabled.
    pub disabled: Option<Disabled>,
}

impl Health {
    pub(crate) fn record(&mut self, succeeded: bool, at_ms: u64) {
        self.last_delivered_at_ms = Some(at_ms);
        if succeeded {
            self.failure_count = 0;
            self.dead_streak = 0;
            self.failing_since_ms = None;
            self.last_success_at_ms = Some(at_ms);
        } else {
            self.failure_count = self.failure_count.saturating_add(1);
            self.failing_since_ms.get_or_insert(at_ms);
            self.last_failed_at_ms = Some(at_ms);
        }
    }

    /// Disables an active webhook whose failures have reached `policy`, saying why.
    pub(crate) fn trip(&mut self, policy: DisableAfter, now_ms: u64) -> Option<&Disabled> {
        if self.status != WebhookStatus::Active {
            return None;
        }
        let reason = match policy {
            DisableAfter::DeadDeliveries(n) if self.dead_streak >= n => {
                format!("{} deliveries in a row failed", self.dead_streak)
            }
            DisableAfter::FailingFor(limit) => {
                let since = self.failing_since_ms?;
                let failing = std::time::Duration::from_millis(now_ms.saturating_sub(since));
                if failing < limit {
                    return None;
                }
                let failing =
                    humantime::format_duration(std::time::Duration::from_secs(failing.as_secs()));
                format!("every attempt failed for {failing}")
            }
            DisableAfter::DeadDeliveries(_) => return None,
        };
        self.disable(reason, now_ms)
    }

    /// Disables an active webhook, saying why: deliveries are held until a resume.
    /// A webhook paused by an operator, or already disabled, stays as it is.
    pub(crate) fn disable(&mut self, reason: String, now_ms: u64) -> Option<&Disabled> {
        if self.status != WebhookStatus::Active {
            return None;
        }
        self.status = WebhookStatus::Disabled;
        self.disabled = Some(Disabled {
            at_ms: now_ms,
            reason,
        });
        self.disabled.as_ref()
    }

    /// Sets the status an operator asked for. A resume starts the failure count
    /// afresh, so a webhook just brought back is not disabled again by its past.
    pub(crate) fn set_status(&mut self, status: WebhookStatus) {
        self.status = status;
        if status == WebhookStatus::Active {
            self.dead_streak = 0;
            self.failing_since_ms = None;
            self.disabled = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_sort_by_creation() {
        let a = DeliveryId::generate();
        let b = DeliveryId::generate();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<DeliveryId>(), Ok(a));
        assert!(a.to_string().starts_with("dlv_"));
        assert_eq!("evk_00".parse::<DeliveryId>(), Err(InvalidId));
        assert_eq!("dlv_zz".parse::<DeliveryId>(), Err(InvalidId));
    }

    #[test]
    fn health_counts_consecutive_failures() {
        let mut h = Health::default();
        h.record(false, 1);
        h.record(false, 2);
        assert_eq!((h.failure_count, h.last_failed_at_ms), (2, Some(2)));
        h.record(true, 3);
        assert_eq!((h.failure_count, h.last_success_at_ms), (0, Some(3)));
        assert_eq!(h.last_delivered_at_ms, Some(3));
    }

    #[test]
    fn dead_deliveries_in_a_row_disable_until_a_resume() {
        let policy = DisableAfter::DeadDeliveries(2);
        let mut h = Health {
            dead_streak: 1,
            ..Health::default()
        };
        assert!(h.trip(policy, 10).is_none());
        h.dead_streak = 2;
        let reason = h.trip(policy, 11).map(|d| d.reason.clone());
        assert_eq!(reason.as_deref(), Some("2 deliveries in a row failed"));
        assert_eq!(h.status, WebhookStatus::Disabled);
        // Already disabled: it does not trip again, nor does a paused webhook.
        assert!(h.trip(policy, 12).is_none());
        h.set_status(WebhookStatus::Active);
        assert_eq!((h.dead_streak, h.disabled.clone()), (0, None));
        h.dead_streak = 5;
        h.set_status(WebhookStatus::Paused);
        assert!(h.trip(policy, 13).is_none());
    }

    #[test]
    fn continuous_failure_disables_after_its_duration() {
        let policy = DisableAfter::FailingFor(std::time::Duration::from_secs(60));
        let mut h = Health::default();
        h.record(false, 1_000);
        h.record(false, 60_999);
        assert!(h.trip(policy, 60_999).is_none());
        h.record(true, 61_000);
        h.record(false, 62_000);
        assert!(
            h.trip(policy, 100_000).is_none(),
            "a success restarts the clock"
        );
        h.record(false, 122_000);
        let reason = h.trip(policy, 122_000).map(|d| d.reason.clone());
        assert_eq!(reason.as_deref(), Some("every attempt failed for 1m"));
    }
}
