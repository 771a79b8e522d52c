//! A webhook's health and status, and the rules that move them: what a failed
//! attempt counts toward, when the router disables a webhook by itself, what a
//! resume forgets. Pure functions of the record; every backend applies them.

use serde::{Deserialize, Serialize};

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
    pub fn record(&mut self, succeeded: bool, at_ms: u64) {
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
    pub fn trip(&mut self, policy: DisableAfter, now_ms: u64) -> Option<&Disabled> {
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
    pub fn disable(&mut self, reason: String, now_ms: u64) -> Option<&Disabled> {
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
    pub fn set_status(&mut self, status: WebhookStatus) {
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
