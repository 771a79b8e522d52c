//! The delivery state machine: what an attempt's outcome, a replay and a purge do
//! to a delivery and to its webhook's health.
//!
//! Pure functions over the records, so that every backend applies the same rules
//! and only decides how to write what they answer: which due entry to add, which
//! finished entry to index, which webhook was disabled. A backend reads the
//! delivery and the health, calls one of these, and writes back the records and
//! the [`Effects`] in the same transaction.
//!
//! ```text
//!             ingest / reopen (replay)
//!                     │
//!                     ▼
//!   ┌──────────── pending ◀──── retry, deferred, gone (due again)
//!   │                 │
//!   │     succeeded   │  failed (dead letter)   filtered ◀── filtered out at ingest
//!   ▼                 ▼                          ▼
//! succeeded        failed                    filtered      ── reopen ──▶ pending
//! ```

use super::{
    AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus, Disabled, EventKey, FilteredOut,
    GONE_REASON, Health, NewEvent, Next, Outcome,
};

/// A new event's delivery to `webhook`: pending, due as the event arrived.
pub fn created(event_key: EventKey, event: &NewEvent, webhook: &str) -> DeliveryRecord {
    DeliveryRecord {
        event: event_key,
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        webhook: webhook.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        logged_attempts: 0,
        replays: 0,
        next_attempt_at_ms: Some(event.received_at_ms),
        created_at_ms: event.received_at_ms,
        updated_at_ms: event.received_at_ms,
    }
}

/// A new delivery (`id`, just [`created`]) whose webhook's filters turned its
/// event down at ingest: it is finished as `filtered` in the commit that creates
/// it, never queued, and what the filters said is logged as its one attempt,
/// the attempt this answers, as a filtered attempt would be. The backend logs it
/// under `delivery.logged_attempts` and indexes the delivery as finished at
/// `delivery.updated_at_ms`, as for any outcome.
pub fn filter_out(
    delivery: &mut DeliveryRecord,
    id: DeliveryId,
    filtered: &FilteredOut,
) -> AttemptRecord {
    delivery.status = DeliveryStatus::Filtered;
    delivery.next_attempt_at_ms = None;
    delivery.logged_attempts = 1;
    AttemptRecord {
        delivery: id,
        webhook: delivery.webhook.clone(),
        event_id: delivery.event_id.clone(),
        event_type: delivery.event_type.clone(),
        number: 1,
        replay: 0,
        url: filtered.url.clone(),
        request_headers: Vec::new(),
        status_code: None,
        response_headers: Vec::new(),
        response_body: Vec::new(),
        error: None,
        duration_ms: filtered.duration_ms,
        at_ms: delivery.updated_at_ms,
        plugins: filtered.notes.clone(),
    }
}

/// What recording an outcome asks the backend to write, beside the delivery and
/// health records it changed in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Log the attempt under this number (its key among the delivery's attempts);
    /// `None` when the delivery was purged meanwhile and there is nothing to log
    /// it against.
    pub log_as: Option<u32>,
    /// The delivery stays pending: queue it again, due at this time.
    pub queue_at: Option<u64>,
    /// The delivery finished: index it under its new status, finished at this time.
    pub finished_at: Option<u64>,
    /// The outcome disabled the webhook, and why.
    pub disabled: Option<Disabled>,
}

/// Applies an attempt's `outcome` to its delivery (`None` if purged meanwhile) and
/// its webhook's `health`.
///
/// `was_due` says whether the due entry the attempt was dispatched from was still
/// there (the backend removes it as it records): an outcome whose entry is gone is
/// stale, its delivery requeued meanwhile, so it is logged but moves nothing on.
/// Health counts it all the same: the receiver did answer that attempt.
pub fn settle(
    delivery: Option<&mut DeliveryRecord>,
    was_due: bool,
    outcome: &Outcome,
    health: &mut Health,
) -> Effects {
    let at_ms = outcome.attempt.at_ms;
    let mut effects = Effects::default();
    if outcome.next.judges_receiver() {
        health.record(outcome.next == Next::Succeeded, at_ms);
    }
    if let Some(delivery) = delivery {
        delivery.logged_attempts = delivery.logged_attempts.saturating_add(1);
        effects.log_as = Some(delivery.logged_attempts);
        if was_due {
            move_on(delivery, outcome, health, &mut effects);
        }
    }
    effects.disabled = match outcome.next {
        Next::Gone { .. } => health.disable(GONE_REASON.to_owned(), at_ms),
        next => (outcome.disable_after)
            .filter(|_| next.judges_receiver())
            .and_then(|policy| health.trip(policy, at_ms)),
    }
    .cloned();
    effects
}

/// Where an attempt's outcome takes its delivery: done, or due again.
fn move_on(
    delivery: &mut DeliveryRecord,
    outcome: &Outcome,
    health: &mut Health,
    effects: &mut Effects,
) {
    let at_ms = outcome.attempt.at_ms;
    if outcome.next.judges_receiver() {
        delivery.attempts = outcome.attempt.number;
    }
    delivery.updated_at_ms = at_ms;
    (delivery.status, delivery.next_attempt_at_ms) = match outcome.next {
        Next::Succeeded => (DeliveryStatus::Succeeded, None),
        Next::Failed => (DeliveryStatus::Failed, None),
        Next::Filtered => (DeliveryStatus::Filtered, None),
        Next::Retry { at_ms } | Next::Deferred { at_ms } | Next::Gone { at_ms } => {
            effects.queue_at = Some(at_ms);
            (DeliveryStatus::Pending, Some(at_ms))
        }
    };
    if delivery.status != DeliveryStatus::Pending {
        effects.finished_at = Some(at_ms);
    }
    if delivery.status == DeliveryStatus::Failed {
        health.failed_deliveries = health.failed_deliveries.saturating_add(1);
        health.dead_streak = health.dead_streak.saturating_add(1);
    }
}

/// A finished delivery that a replay queued again: what the backend must undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reopened {
    /// The status it had finished with, and when: its finished entry, to remove.
    pub status: DeliveryStatus,
    pub finished_at_ms: u64,
}

impl Reopened {
    /// Whether the webhook's health counted the delivery (as a dead letter), and
    /// must be read and written to forget it ([`Reopened::forget`]).
    pub fn touches_health(self) -> bool {
        self.status == DeliveryStatus::Failed
    }

    /// The delivery is no longer a dead letter of its webhook.
    pub fn forget(self, health: &mut Health) {
        if self.touches_health() {
            health.failed_deliveries = health.failed_deliveries.saturating_sub(1);
        }
    }
}

/// Queues a finished delivery again for a fresh round of attempts, due at
/// `now_ms`, under the same id; its earlier attempts stay logged. `None` if it is
/// still pending: not done with its current round.
pub fn reopen(delivery: &mut DeliveryRecord, now_ms: u64) -> Option<Reopened> {
    if delivery.status == DeliveryStatus::Pending {
        return None;
    }
    let reopened = Reopened {
        status: delivery.status,
        finished_at_ms: delivery.updated_at_ms,
    };
    delivery.status = DeliveryStatus::Pending;
    delivery.attempts = 0;
    delivery.replays = delivery.replays.saturating_add(1);
    delivery.next_attempt_at_ms = Some(now_ms);
    delivery.updated_at_ms = now_ms;
    Some(reopened)
}

/// A finished delivery that retention deletes: whether the webhook's health
/// counted it, and so must be read and written to forget it.
pub fn purge_touches_health(delivery: &DeliveryRecord) -> bool {
    delivery.status == DeliveryStatus::Failed
}

/// A finished delivery is deleted: its webhook no longer keeps it as a dead letter.
pub fn forget_purged(delivery: &DeliveryRecord, health: &mut Health) {
    if purge_touches_health(delivery) {
        health.failed_deliveries = health.failed_deliveries.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{AttemptRecord, DeliveryId, DisableAfter, EventKey, WebhookStatus};

    fn pending(at_ms: u64) -> DeliveryRecord {
        DeliveryRecord {
            event: EventKey(1),
            event_id: "e".into(),
            event_type: "t".into(),
            webhook: "w".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            logged_attempts: 0,
            replays: 0,
            next_attempt_at_ms: Some(at_ms),
            created_at_ms: at_ms,
            updated_at_ms: at_ms,
        }
    }

    fn outcome(number: u32, at_ms: u64, next: Next, policy: Option<DisableAfter>) -> Outcome {
        Outcome {
            delivery: DeliveryId(1),
            webhook: Arc::from("w"),
            dispatched_due_ms: 0,
            attempt: AttemptRecord {
                delivery: DeliveryId(1),
                webhook: "w".into(),
                event_id: "e".into(),
                event_type: "t".into(),
                number,
                replay: 0,
                url: "http://r.test/".into(),
                request_headers: Vec::new(),
                status_code: None,
                response_headers: Vec::new(),
                response_body: Vec::new(),
                error: None,
                duration_ms: 1,
                at_ms,
                plugins: Vec::new(),
            },
            next,
            disable_after: policy,
        }
    }

    #[test]
    fn a_retry_queues_the_delivery_again_and_counts_a_failure() {
        let (mut d, mut h) = (pending(0), Health::default());
        let effects = settle(
            Some(&mut d),
            true,
            &outcome(1, 5, Next::Retry { at_ms: 50 }, None),
            &mut h,
        );
        assert_eq!(effects.log_as, Some(1));
        assert_eq!((effects.queue_at, effects.finished_at), (Some(50), None));
        assert_eq!(
            (d.status, d.attempts, d.next_attempt_at_ms),
            (DeliveryStatus::Pending, 1, Some(50))
        );
        assert_eq!((h.failure_count, h.failed_deliveries), (1, 0));
    }

    #[test]
    fn a_dead_letter_is_finished_counted_and_can_trip_the_policy() {
        let (mut d, mut h) = (pending(0), Health::default());
        let policy = Some(DisableAfter::DeadDeliveries(1));
        let effects = settle(
            Some(&mut d),
            true,
            &outcome(3, 9, Next::Failed, policy),
            &mut h,
        );
        assert_eq!((effects.queue_at, effects.finished_at), (None, Some(9)));
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!((h.failed_deliveries, h.dead_streak), (1, 1));
        let disabled = effects
            .disabled
            .expect("one dead delivery trips the policy");
        assert_eq!(disabled.at_ms, 9);
        assert_eq!(h.status, WebhookStatus::Disabled);
    }

    #[test]
    fn gone_disables_and_keeps_the_delivery_pending() {
        let (mut d, mut h) = (pending(0), Health::default());
        let effects = settle(
            Some(&mut d),
            true,
            &outcome(1, 7, Next::Gone { at_ms: 7 }, None),
            &mut h,
        );
        assert_eq!(effects.queue_at, Some(7));
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(
            effects.disabled.map(|d| d.reason),
            Some(GONE_REASON.to_owned())
        );
    }

    #[test]
    fn filtered_and_deferred_say_nothing_of_the_receiver() {
        for next in [Next::Filtered, Next::Deferred { at_ms: 4 }] {
            let (mut d, mut h) = (pending(0), Health::default());
            let policy = Some(DisableAfter::DeadDeliveries(0));
            let effects = settle(Some(&mut d), true, &outcome(1, 3, next, policy), &mut h);
            assert_eq!(h, Health::default(), "{next:?} touched health");
            assert_eq!(d.attempts, 0, "{next:?} counted as a try");
            assert!(effects.disabled.is_none());
        }
    }

    #[test]
    fn a_stale_outcome_is_logged_but_moves_nothing() {
        let (mut d, mut h) = (pending(0), Health::default());
        let effects = settle(
            Some(&mut d),
            false,
            &outcome(1, 3, Next::Failed, None),
            &mut h,
        );
        assert_eq!(effects.log_as, Some(1));
        assert_eq!((effects.queue_at, effects.finished_at), (None, None));
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(h.failed_deliveries, 0);
        assert_eq!(h.failure_count, 1, "the receiver did fail that attempt");
    }

    #[test]
    fn an_outcome_for_a_purged_delivery_logs_nothing() {
        let mut h = Health::default();
        let effects = settle(None, true, &outcome(1, 3, Next::Succeeded, None), &mut h);
        assert_eq!(effects, Effects::default());
        assert_eq!(h.last_success_at_ms, Some(3));
    }

    #[test]
    fn reopening_undoes_the_finish_and_forgets_the_dead_letter() {
        let (mut d, mut h) = (pending(0), Health::default());
        assert_eq!(
            reopen(&mut d, 1),
            None,
            "a pending delivery is not reopened"
        );
        settle(
            Some(&mut d),
            true,
            &outcome(2, 8, Next::Failed, None),
            &mut h,
        );
        let reopened = reopen(&mut d, 20).unwrap();
        assert_eq!(
            reopened,
            Reopened {
                status: DeliveryStatus::Failed,
                finished_at_ms: 8
            }
        );
        reopened.forget(&mut h);
        assert_eq!(h.failed_deliveries, 0);
        assert_eq!(
            (d.status, d.attempts, d.replays, d.next_attempt_at_ms),
            (DeliveryStatus::Pending, 0, 1, Some(20))
        );
        assert_eq!(d.logged_attempts, 1, "earlier attempts stay logged");
    }

    /// A property: whatever sequence of outcomes, replays and purges a set of
    /// deliveries goes through, a delivery is pending exactly when the effects left
    /// it queued, finished exactly when they indexed it as finished, and the
    /// webhook's failed count is the number of its failed deliveries.
    #[test]
    fn any_sequence_keeps_queue_index_and_dead_letter_count_in_step() {
        for seed in 0..200 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut health = Health::default();
            // Per delivery: the record, whether it is queued, whether it is indexed finished.
            let mut all: Vec<Option<(DeliveryRecord, bool, bool)>> =
                (0..4).map(|_| Some((pending(0), true, false))).collect();
            for step in 1..60u64 {
                let i = rng.usize(..all.len());
                let Some((d, queued, indexed)) = all[i].as_mut() else {
                    continue;
                };
                match rng.u8(..10) {
                    0..=6 => {
                        let next = match rng.u8(..6) {
                            0 => Next::Succeeded,
                            1 => Next::Failed,
                            2 => Next::Filtered,
                            3 => Next::Retry { at_ms: step + 5 },
                            4 => Next::Deferred { at_ms: step + 1 },
                            _ => Next::Gone { at_ms: step },
                        };
                        let was_due = *queued;
                        let o = outcome(d.attempts + 1, step, next, None);
                        let effects = settle(Some(d), was_due, &o, &mut health);
                        if was_due {
                            *queued = effects.queue_at.is_some();
                            *indexed = effects.finished_at.is_some();
                        } else {
                            assert_eq!((effects.queue_at, effects.finished_at), (None, None));
                        }
                    }
                    7 | 8 => {
                        if let Some(reopened) = reopen(d, step) {
                            assert!(*indexed);
                            reopened.forget(&mut health);
                            (*queued, *indexed) = (true, false);
                        }
                    }
                    _ => {
                        if d.status != DeliveryStatus::Pending {
                            forget_purged(d, &mut health);
                            all[i] = None;
                            continue;
                        }
                    }
                }
                let (d, queued, indexed) = all[i].as_ref().unwrap();
                assert_eq!(d.status == DeliveryStatus::Pending, *queued, "seed {seed}");
                assert_eq!(d.status != DeliveryStatus::Pending, *indexed, "seed {seed}");
                let failed = (all.iter().flatten())
                    .filter(|(d, _, _)| d.status == DeliveryStatus::Failed)
                    .count() as u64;
                assert_eq!(health.failed_deliveries, failed, "seed {seed}");
            }
        }
    }
}
