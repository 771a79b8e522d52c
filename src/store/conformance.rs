//! The conformance suite: what every backend must do, as checks generic over the
//! store traits. It is the spec of the seam; a backend is done when it passes.
//!
//! Each check takes a fresh, empty [`Store`] and the [`ManualClock`] it was opened
//! on, and panics on the first thing the backend gets wrong. A backend's tests
//! run them all with [`store_conformance!`](crate::store_conformance), which makes
//! one test per check:
//!
//! ```ignore
//! switchyard::store_conformance!(|clock| async move {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = RedbStore::open(dir.path(), Arc::new(Metrics::new()), clock).unwrap();
//!     (Store::new(store), dir) // the second is kept until the check ends
//! });
//! ```
//!
//! Time is the manual clock's: windows, leases and due times are crossed by
//! moving it, never by waiting.

use std::sync::Arc;
use std::time::Duration;

use crate::model::{
    AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus, DisableAfter, Due, FilteredOut,
    Ingested, ManualClock, NewEvent, Next, Outcome, PluginNote, Replayed, TraceContext,
    WebhookStatus,
};
use crate::store::{Changed, DeliveryQuery, Feed, Leased, Purge, Store, StoreError};

/// Where every check's clock starts: 2026-01-01, so ids and due times look real.
pub const START_MS: u64 = 1_767_225_600_000;

/// A minute of the dedupe window the checks ingest with.
const WINDOW_MS: u64 = 60_000;

/// The lease the checks claim with.
const LEASE: Duration = Duration::from_secs(30);

/// Makes one `#[tokio::test]` per conformance check, each on a store that `open`
/// makes from a [`crate::model::Clock`]: an async closure answering the
/// [`Store`] and whatever must live as long as the check (a temporary
/// directory, a database schema to drop).
#[macro_export]
macro_rules! store_conformance {
    ($open:expr) => {
        $crate::store_conformance!(@checks $open;
            ingest_stores_events_with_one_due_delivery_per_webhook,
            a_duplicate_within_the_window_stores_nothing,
            a_delivery_filtered_out_at_ingest_is_stored_finished,
            a_claim_is_a_lease_that_keeps_other_claims_out,
            a_claim_takes_only_due_work_and_says_when_more_is_due,
            a_success_finishes_the_delivery_and_logs_the_attempt,
            a_retry_queues_the_delivery_again,
            a_dead_letter_counts_against_its_webhook_until_replayed,
            a_stale_outcome_is_logged_but_moves_nothing,
            an_outcome_that_trips_disable_after_disables_the_webhook,
            statuses_set_by_an_operator_are_kept_and_published,
            the_feed_names_webhooks_that_gained_due_work,
            unqueue_drops_a_due_entry,
            purge_deletes_finished_work_past_its_cutoffs,
            listing_filters_pages_and_carries_the_last_attempt,
            counts_and_ages_of_pending_work,
            a_closed_store_refuses_writes
        );
    };
    (@checks $open:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let clock = $crate::model::ManualClock::starting_at(
                $crate::store::conformance::START_MS,
            );
            let (store, _keep) = ($open)(clock.clock()).await;
            $crate::store::conformance::$check(&store, &clock).await;
        }
    )*};
}

fn event(clock: &ManualClock, id: &str, event_type: &str, webhooks: &[&str]) -> NewEvent {
    let payload = format!(r#"{{"id":"{id}"}}"#).into_bytes();
    NewEvent {
        webhooks: webhooks.iter().map(|w| Arc::from(*w)).collect(),
        ..NewEvent::new(
            "s".into(),
            id.into(),
            event_type.into(),
            clock.now_ms(),
            payload,
        )
    }
}

async fn ingest(store: &Store, events: Vec<NewEvent>) -> Vec<Ingested> {
    match store.ingest(events, WINDOW_MS).await {
        Ok(ingested) => ingested,
        Err(e) => panic!("ingest failed: {e}"),
    }
}

async fn claim(store: &Store, clock: &ManualClock, webhook: &str, limit: usize) -> Vec<Due> {
    let leased = claim_loaded(store, clock, webhook, limit).await;
    leased.into_iter().map(|leased| leased.due).collect()
}

async fn claim_loaded(
    store: &Store,
    clock: &ManualClock,
    webhook: &str,
    limit: usize,
) -> Vec<Leased> {
    let claimed = store.claim(webhook, clock.now_ms(), limit, LEASE).await;
    claimed
        .unwrap_or_else(|e| panic!("claim failed: {e}"))
        .leased
}

async fn delivery(store: &Store, id: DeliveryId) -> DeliveryRecord {
    let found = store.delivery(id).await.unwrap_or_else(|e| panic!("{e}"));
    found.unwrap_or_else(|| panic!("delivery {id} is gone"))
}

/// The outcome of attempting `due` now, going `next`.
async fn outcome(store: &Store, clock: &ManualClock, due: Due, next: Next) -> Arc<Outcome> {
    let record = delivery(store, due.delivery).await;
    Arc::new(Outcome {
        delivery: due.delivery,
        webhook: record.webhook.as_str().into(),
        dispatched_due_ms: due.at_ms,
        attempt: AttemptRecord {
            delivery: due.delivery,
            webhook: record.webhook.clone(),
            event_id: record.event_id.clone(),
            event_type: record.event_type.clone(),
            number: record.attempts + 1,
            replay: record.replays,
            url: "http://receiver.test/".into(),
            request_headers: vec![("content-type".into(), "application/json".into())],
            status_code: matches!(next, Next::Succeeded).then_some(200),
            response_headers: Vec::new(),
            response_body: b"ok".to_vec(),
            error: None,
            duration_ms: 3,
            at_ms: clock.now_ms(),
            plugins: Vec::new(),
        },
        next,
        disable_after: None,
    })
}

/// Records `outcome` and then releases its claim, as a lane does.
async fn record(store: &Store, outcome: Arc<Outcome>) -> Option<crate::model::Disabled> {
    let due = Due {
        delivery: outcome.delivery,
        at_ms: outcome.dispatched_due_ms,
    };
    let webhook = outcome.webhook.clone();
    let recorded = store.record(outcome).await;
    let disabled = recorded.unwrap_or_else(|e| panic!("record failed: {e}"));
    store.release(&webhook, due).await.unwrap();
    disabled
}

/// Ingests one event for `webhook`, claims its delivery and records `next`.
async fn settle_one(
    store: &Store,
    clock: &ManualClock,
    id: &str,
    webhook: &str,
    next: Next,
) -> Due {
    ingest(store, vec![event(clock, id, "t", &[webhook])]).await;
    let claimed = claim(store, clock, webhook, 100).await;
    let due = *claimed
        .last()
        .unwrap_or_else(|| panic!("{id} was not claimable"));
    record(store, outcome(store, clock, due, next).await).await;
    due
}

/// The next notice on `feed` that is not empty, within a few seconds.
async fn next_change(feed: &mut Feed) -> Arc<Changed> {
    let next = tokio::time::timeout(Duration::from_secs(5), feed.next()).await;
    let next = next.unwrap_or_else(|_| panic!("the feed said nothing of a commit"));
    next.unwrap_or_else(|| panic!("the feed closed"))
}

pub async fn ingest_stores_events_with_one_due_delivery_per_webhook(
    store: &Store,
    clock: &ManualClock,
) {
    let mut traced = event(clock, "a", "order.paid", &["w", "v"]);
    let trace = TraceContext {
        trace_id: [7; 16],
        span_id: [9; 8],
        flags: 1,
        state: "vendor=x".into(),
    };
    traced.trace = Some(trace.clone());
    let events = vec![traced, event(clock, "b", "order.paid", &["w"])];
    assert_eq!(ingest(store, events).await, [Ingested::New, Ingested::New]);
    assert_eq!((store.pending_count("w"), store.pending_count("v")), (2, 1));
    assert_eq!(store.pending_count("x"), 0);

    let deliveries = store.deliveries_of("s", "a").await.unwrap();
    assert_eq!(deliveries.len(), 2, "one delivery per webhook");
    for (_, d) in &deliveries {
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(
            d.next_attempt_at_ms,
            Some(clock.now_ms()),
            "due as it arrives"
        );
        assert_eq!((d.attempts, d.replays), (0, 0));
    }
    let event = store.event_by_sender_id("s", "a").await.unwrap().unwrap();
    assert_eq!(
        (event.event_type.as_str(), event.payload.as_slice()),
        ("order.paid", &br#"{"id":"a"}"#[..])
    );

    let leased = claim_loaded(store, clock, "v", 10).await;
    assert_eq!(leased.len(), 1);
    let loaded = leased[0].loaded.clone().expect("a claim comes loaded");
    assert_eq!(loaded.event.id, "a");
    assert_eq!(
        loaded.trace,
        Some(trace),
        "the trace context comes with the event"
    );
    assert_eq!(loaded.delivery.webhook, "v");
}

pub async fn a_duplicate_within_the_window_stores_nothing(store: &Store, clock: &ManualClock) {
    let first_at = clock.now_ms();
    assert_eq!(
        ingest(store, vec![event(clock, "e", "t", &["w"])]).await,
        [Ingested::New]
    );
    clock.advance(Duration::from_millis(WINDOW_MS - 1));
    let again = ingest(store, vec![event(clock, "e", "t", &["w"])]).await;
    assert_eq!(again, [Ingested::Duplicate]);
    assert_eq!(store.pending_count("w"), 1, "a duplicate queues nothing");
    let kept = store.event_by_sender_id("s", "e").await.unwrap().unwrap();
    assert_eq!(
        kept.received_at_ms, first_at,
        "the window runs from the first"
    );
    // Another sender's id is its own.
    let mut other = event(clock, "e", "t", &["w"]);
    other.sender = "other".into();
    assert_eq!(ingest(store, vec![other]).await, [Ingested::New]);

    // Past the first's window, the id is new again and names the new event.
    clock.advance(Duration::from_millis(1));
    let renewed_at = clock.now_ms();
    assert_eq!(
        ingest(store, vec![event(clock, "e", "t", &["w"])]).await,
        [Ingested::New]
    );
    let renewed = store.event_by_sender_id("s", "e").await.unwrap().unwrap();
    assert_eq!(renewed.received_at_ms, renewed_at);
}

pub async fn a_delivery_filtered_out_at_ingest_is_stored_finished(
    store: &Store,
    clock: &ManualClock,
) {
    let mut feed = store.subscribe();
    let notes = vec![PluginNote {
        plugin: "event_filter".into(),
        hook: "filter".into(),
        result: "dropped".into(),
    }];
    let mut new = event(clock, "a", "t", &["w"]);
    new.filtered_out.push(FilteredOut {
        webhook: "v".into(),
        url: "http://v.test/".into(),
        notes: notes.clone(),
        duration_ms: 2,
    });
    assert_eq!(ingest(store, vec![new]).await, [Ingested::New]);

    assert_eq!((store.pending_count("w"), store.pending_count("v")), (1, 0));
    assert_eq!(
        next_change(&mut feed).await.due,
        [Arc::from("w")],
        "v gained no work"
    );
    assert!(
        claim(store, clock, "v", 10).await.is_empty(),
        "never queued"
    );
    let deliveries = store.deliveries_of("s", "a").await.unwrap();
    let (id, filtered) = (deliveries.iter())
        .find(|(_, d)| d.webhook == "v")
        .unwrap_or_else(|| panic!("no delivery to v: {deliveries:?}"));
    let id = *id;
    assert_eq!(filtered.status, DeliveryStatus::Filtered);
    assert_eq!((filtered.attempts, filtered.logged_attempts), (0, 1));
    assert_eq!(filtered.next_attempt_at_ms, None);
    let attempts = store.attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 1, "what the filters said is its attempt");
    assert_eq!((attempts[0].number, attempts[0].status_code), (1, None));
    assert_eq!(
        (attempts[0].plugins.clone(), attempts[0].url.as_str()),
        (notes, "http://v.test/")
    );

    // Finished like any filtered delivery: retention takes it.
    clock.advance(Duration::from_secs(1));
    let purged = store
        .purge(Purge {
            succeeded_before_ms: clock.now_ms(),
            failed_before_ms: 0,
            events_before_ms: 0,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(purged.deliveries, 1);
    assert_eq!(store.delivery(id).await.unwrap(), None);
}

pub async fn a_claim_is_a_lease_that_keeps_other_claims_out(store: &Store, clock: &ManualClock) {
    let events = ["a", "b", "c"]
        .map(|id| event(clock, id, "t", &["w"]))
        .to_vec();
    ingest(store, events).await;
    let first = claim(store, clock, "w", 2).await;
    assert_eq!(first.len(), 2);
    let second = claim(store, clock, "w", 2).await;
    assert_eq!(second.len(), 1, "leased deliveries are not claimed twice");
    assert!(!first.contains(&second[0]));
    assert!(claim(store, clock, "w", 2).await.is_empty());

    store.release("w", first[0]).await.unwrap();
    assert_eq!(
        claim(store, clock, "w", 2).await,
        [first[0]],
        "a release frees it at once"
    );

    // An outcome keeps the claim: a retry due at once is not handed out again
    // until the claimer releases it.
    let retry = Next::Retry {
        at_ms: clock.now_ms(),
    };
    let requeued = outcome(store, clock, second[0], retry).await;
    store.record(requeued).await.unwrap();
    assert!(
        claim(store, clock, "w", 5).await.is_empty(),
        "still claimed"
    );
    store.release("w", second[0]).await.unwrap();
    let again = claim(store, clock, "w", 5).await;
    assert_eq!(
        again.iter().map(|d| d.delivery).collect::<Vec<_>>(),
        [second[0].delivery]
    );

    // A lease that runs out frees its delivery: a claimer that died strands nothing.
    clock.advance(LEASE);
    assert_eq!(claim(store, clock, "w", 5).await.len(), 3);
}

pub async fn a_claim_takes_only_due_work_and_says_when_more_is_due(
    store: &Store,
    clock: &ManualClock,
) {
    ingest(store, vec![event(clock, "a", "t", &["w"])]).await;
    let due = claim(store, clock, "w", 10).await;
    let retry_at = clock.now_ms() + 10_000;
    record(
        store,
        outcome(store, clock, due[0], Next::Retry { at_ms: retry_at }).await,
    )
    .await;

    let claimed = store.claim("w", clock.now_ms(), 10, LEASE).await.unwrap();
    assert!(claimed.leased.is_empty(), "not due yet");
    assert_eq!(claimed.next_at_ms, Some(retry_at));
    clock.advance(Duration::from_secs(10));
    let claimed = store.claim("w", clock.now_ms(), 10, LEASE).await.unwrap();
    let due: Vec<Due> = claimed.leased.iter().map(|leased| leased.due).collect();
    assert_eq!(
        due,
        [Due {
            delivery: due[0].delivery,
            at_ms: retry_at
        }]
    );
    assert_eq!(claimed.next_at_ms, None);
}

pub async fn a_success_finishes_the_delivery_and_logs_the_attempt(
    store: &Store,
    clock: &ManualClock,
) {
    let due = settle_one(store, clock, "a", "w", Next::Succeeded).await;
    let done = delivery(store, due.delivery).await;
    assert_eq!(
        (done.status, done.attempts, done.logged_attempts),
        (DeliveryStatus::Succeeded, 1, 1)
    );
    assert_eq!(done.next_attempt_at_ms, None);
    let attempts = store.attempts(due.delivery).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (
            attempts[0].status_code,
            attempts[0].response_body.as_slice()
        ),
        (Some(200), &b"ok"[..])
    );
    assert_eq!(store.pending_count("w"), 0);
    let health = store.health("w").await.unwrap().unwrap();
    assert_eq!(health.last_success_at_ms, Some(clock.now_ms()));
    assert!(
        claim(store, clock, "w", 10).await.is_empty(),
        "nothing left to claim"
    );
}

pub async fn a_retry_queues_the_delivery_again(store: &Store, clock: &ManualClock) {
    let retry_at = clock.now_ms() + 5_000;
    let due = settle_one(store, clock, "a", "w", Next::Retry { at_ms: retry_at }).await;
    let again = delivery(store, due.delivery).await;
    assert_eq!(
        (again.status, again.attempts, again.next_attempt_at_ms),
        (DeliveryStatus::Pending, 1, Some(retry_at))
    );
    assert_eq!(store.pending_count("w"), 1, "still one due entry");
    let health = store.health("w").await.unwrap().unwrap();
    assert_eq!(health.failure_count, 1);
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        claim(store, clock, "w", 10).await,
        [Due {
            delivery: due.delivery,
            at_ms: retry_at
        }]
    );
}

pub async fn a_dead_letter_counts_against_its_webhook_until_replayed(
    store: &Store,
    clock: &ManualClock,
) {
    let due = settle_one(store, clock, "a", "w", Next::Failed).await;
    assert_eq!(
        delivery(store, due.delivery).await.status,
        DeliveryStatus::Failed
    );
    let health = store.health("w").await.unwrap().unwrap();
    assert_eq!((health.failed_deliveries, health.dead_streak), (1, 1));
    assert_eq!(store.pending_count("w"), 0);

    clock.advance(Duration::from_secs(1));
    let replayed = store
        .replay(vec![due.delivery, DeliveryId(1)])
        .await
        .unwrap();
    let [Replayed::Queued(queued), Replayed::NotFound] = replayed.as_slice() else {
        panic!("replay answered {replayed:?}");
    };
    assert_eq!(
        (queued.status, queued.attempts, queued.replays),
        (DeliveryStatus::Pending, 0, 1)
    );
    assert_eq!(queued.next_attempt_at_ms, Some(clock.now_ms()), "due now");
    assert_eq!(
        store.health("w").await.unwrap().unwrap().failed_deliveries,
        0
    );
    assert_eq!(store.pending_count("w"), 1);
    assert_eq!(
        store.replay_one(due.delivery).await.unwrap(),
        Replayed::StillPending
    );
    let claimed = claim(store, clock, "w", 10).await;
    assert_eq!(
        claimed,
        [Due {
            delivery: due.delivery,
            at_ms: clock.now_ms()
        }]
    );
    // The second round logs after the first: nothing is overwritten.
    record(
        store,
        outcome(store, clock, claimed[0], Next::Succeeded).await,
    )
    .await;
    assert_eq!(store.attempts(due.delivery).await.unwrap().len(), 2);
}

pub async fn a_stale_outcome_is_logged_but_moves_nothing(store: &Store, clock: &ManualClock) {
    ingest(store, vec![event(clock, "a", "t", &["w"])]).await;
    let due = claim(store, clock, "w", 1).await[0];
    let stale = Due {
        delivery: due.delivery,
        at_ms: due.at_ms + 1,
    };
    record(store, outcome(store, clock, stale, Next::Failed).await).await;
    let still = delivery(store, due.delivery).await;
    assert_eq!(
        (still.status, still.logged_attempts),
        (DeliveryStatus::Pending, 1)
    );
    assert_eq!(store.pending_count("w"), 1);
    assert_eq!(
        store.health("w").await.unwrap().unwrap().failed_deliveries,
        0
    );
}

pub async fn an_outcome_that_trips_disable_after_disables_the_webhook(
    store: &Store,
    clock: &ManualClock,
) {
    let mut feed = store.subscribe();
    ingest(store, vec![event(clock, "a", "t", &["w"])]).await;
    next_change(&mut feed).await;
    let due = claim(store, clock, "w", 1).await[0];
    let mut tripping = Arc::unwrap_or_clone(outcome(store, clock, due, Next::Failed).await);
    tripping.disable_after = Some(DisableAfter::DeadDeliveries(1));
    let disabled = record(store, Arc::new(tripping)).await;
    assert_eq!(disabled.map(|d| d.at_ms), Some(clock.now_ms()));
    assert_eq!(
        store.status("w"),
        WebhookStatus::Disabled,
        "read from memory at once"
    );
    let health = store.health("w").await.unwrap().unwrap();
    assert_eq!(health.status, WebhookStatus::Disabled);
    let changed = next_change(&mut feed).await;
    assert!(changed.status.iter().any(|w| &**w == "w"), "{changed:?}");

    // Gone disables too, and keeps its delivery pending for a resume.
    ingest(store, vec![event(clock, "b", "t", &["v"])]).await;
    let due = claim(store, clock, "v", 1).await[0];
    let gone = outcome(
        store,
        clock,
        due,
        Next::Gone {
            at_ms: clock.now_ms(),
        },
    )
    .await;
    assert!(record(store, gone).await.is_some());
    assert_eq!(store.status("v"), WebhookStatus::Disabled);
    assert_eq!(
        delivery(store, due.delivery).await.status,
        DeliveryStatus::Pending
    );
}

pub async fn statuses_set_by_an_operator_are_kept_and_published(
    store: &Store,
    _clock: &ManualClock,
) {
    let mut feed = store.subscribe();
    assert_eq!(
        store.status("w"),
        WebhookStatus::Active,
        "active until told otherwise"
    );
    store.set_status("w", WebhookStatus::Paused).await.unwrap();
    assert_eq!(store.status("w"), WebhookStatus::Paused);
    assert_eq!(
        store.health("w").await.unwrap().unwrap().status,
        WebhookStatus::Paused
    );
    let changed = next_change(&mut feed).await;
    assert_eq!(changed.status, [Arc::from("w")]);
    store.set_status("w", WebhookStatus::Active).await.unwrap();
    assert_eq!(store.status("w"), WebhookStatus::Active);
}

pub async fn the_feed_names_webhooks_that_gained_due_work(store: &Store, clock: &ManualClock) {
    let mut feed = store.subscribe();
    ingest(store, vec![event(clock, "a", "t", &["w", "v"])]).await;
    let changed = next_change(&mut feed).await;
    let mut named: Vec<&str> = changed.due.iter().map(|w| &**w).collect();
    named.sort_unstable();
    assert_eq!(named, ["v", "w"]);
    assert!(changed.status.is_empty());

    // A success gives no one new work, so the next notice is the replay's.
    let due = claim(store, clock, "w", 1).await[0];
    record(store, outcome(store, clock, due, Next::Succeeded).await).await;
    store.replay(vec![due.delivery]).await.unwrap();
    assert_eq!(next_change(&mut feed).await.due, [Arc::from("w")]);
}

pub async fn unqueue_drops_a_due_entry(store: &Store, clock: &ManualClock) {
    ingest(store, vec![event(clock, "a", "t", &["w"])]).await;
    let due = claim(store, clock, "w", 1).await[0];
    store.unqueue("w", due).await.unwrap();
    assert_eq!(store.pending_count("w"), 0);
    clock.advance(LEASE);
    assert!(claim(store, clock, "w", 1).await.is_empty());
    assert_eq!(store.count_due("w", clock.now_ms(), 10).await.unwrap(), 0);
}

pub async fn purge_deletes_finished_work_past_its_cutoffs(store: &Store, clock: &ManualClock) {
    let ok = settle_one(store, clock, "ok", "w", Next::Succeeded).await;
    let dead = settle_one(store, clock, "dead", "w", Next::Failed).await;
    ingest(store, vec![event(clock, "waiting", "t", &["v"])]).await;
    assert_eq!(
        store.health("w").await.unwrap().unwrap().failed_deliveries,
        1
    );
    clock.advance(Duration::from_secs(3_600));
    let now = clock.now_ms();

    // Successes past their cutoff go; the dead letter is kept longer.
    let succeeded_only = Purge {
        succeeded_before_ms: now,
        failed_before_ms: now - 7_200_000,
        events_before_ms: now,
        limit: 100,
    };
    let purged = store.purge(succeeded_only).await.unwrap();
    assert_eq!(
        (purged.deliveries, purged.events, purged.more),
        (1, 1, false)
    );
    assert!(store.delivery(ok.delivery).await.unwrap().is_none());
    assert!(
        store.event_by_sender_id("s", "ok").await.unwrap().is_none(),
        "its event goes with it"
    );
    assert!(store.delivery(dead.delivery).await.unwrap().is_some());

    let everything = Purge {
        failed_before_ms: now,
        ..succeeded_only
    };
    let purged = store.purge(everything).await.unwrap();
    assert_eq!((purged.deliveries, purged.events), (1, 1));
    assert!(
        store.attempts(dead.delivery).await.unwrap().is_empty(),
        "attempts go too"
    );
    assert_eq!(
        store.health("w").await.unwrap().unwrap().failed_deliveries,
        0
    );
    // Pending work is never purged, nor its event.
    assert!(
        store
            .event_by_sender_id("s", "waiting")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.pending_count("v"), 1);

    // A batch stops at its limit and says there is more.
    for id in ["x", "y", "z"] {
        settle_one(store, clock, id, "w", Next::Succeeded).await;
    }
    clock.advance(Duration::from_secs(1));
    let small = Purge {
        succeeded_before_ms: clock.now_ms(),
        limit: 2,
        ..everything
    };
    assert!(store.purge(small).await.unwrap().more);
    let rest = store.purge(small).await.unwrap();
    assert_eq!(rest.deliveries, 1);
}

pub async fn listing_filters_pages_and_carries_the_last_attempt(
    store: &Store,
    clock: &ManualClock,
) {
    for (i, event_type) in ["a.one", "b.two", "a.one", "b.two", "a.one"]
        .iter()
        .enumerate()
    {
        ingest(
            store,
            vec![event(clock, &format!("e{i}"), event_type, &["w"])],
        )
        .await;
        clock.advance(Duration::from_millis(10));
    }
    ingest(store, vec![event(clock, "other", "a.one", &["v"])]).await;
    let due = claim(store, clock, "w", 1).await[0];
    record(store, outcome(store, clock, due, Next::Succeeded).await).await;

    let ours = |event_type: Option<&str>, oldest_first| DeliveryQuery {
        webhook: Some("w".into()),
        event_type: event_type.map(Into::into),
        oldest_first,
        ..DeliveryQuery::default()
    };
    let page = store
        .list_deliveries(ours(Some("a.one"), true), None, 2)
        .await
        .unwrap();
    let ids: Vec<&str> = page
        .deliveries
        .iter()
        .map(|(_, d, _)| d.event_id.as_str())
        .collect();
    assert_eq!(ids, ["e0", "e2"], "oldest first, filtered");
    assert_eq!(
        page.deliveries[0].2.as_ref().map(|a| a.status_code),
        Some(Some(200)),
        "with its last attempt"
    );
    let rest = store
        .list_deliveries(ours(Some("a.one"), true), page.next, 2)
        .await
        .unwrap();
    let ids: Vec<&str> = rest
        .deliveries
        .iter()
        .map(|(_, d, _)| d.event_id.as_str())
        .collect();
    assert_eq!(ids, ["e4"]);

    let newest = store
        .list_deliveries(ours(None, false), None, 10)
        .await
        .unwrap();
    assert_eq!(newest.deliveries.len(), 5);
    assert_eq!(newest.deliveries[0].1.event_id, "e4", "newest first");
    let succeeded = DeliveryQuery {
        status: Some(DeliveryStatus::Succeeded),
        ..DeliveryQuery::default()
    };
    let done = store.list_deliveries(succeeded, None, 10).await.unwrap();
    assert_eq!(done.deliveries.len(), 1);
    let window = DeliveryQuery {
        since_ms: Some(START_MS + 20),
        until_ms: Some(START_MS + 30),
        oldest_first: true,
        ..DeliveryQuery::default()
    };
    let ids: Vec<String> = (store
        .list_deliveries(window, None, 10)
        .await
        .unwrap()
        .deliveries)
        .into_iter()
        .map(|(_, d, _)| d.event_id)
        .collect();
    assert_eq!(ids, ["e2", "e3"], "a time window by creation");
}

pub async fn counts_and_ages_of_pending_work(store: &Store, clock: &ManualClock) {
    let created = clock.now_ms();
    ingest(store, vec![event(clock, "a", "t", &["w"])]).await;
    clock.advance(Duration::from_secs(2));
    ingest(store, vec![event(clock, "b", "t", &["w"])]).await;
    assert_eq!(store.oldest_pending_ms("w").await.unwrap(), Some(created));
    assert_eq!(store.oldest_pending_ms("v").await.unwrap(), None);
    assert_eq!(store.count_due("w", clock.now_ms(), 10).await.unwrap(), 2);
    assert_eq!(
        store.count_due("w", clock.now_ms(), 1).await.unwrap(),
        1,
        "counts up to its cap"
    );
    assert_eq!(
        store.count_due("w", created, 10).await.unwrap(),
        1,
        "due by then"
    );
    assert!(store.is_writable());
}

pub async fn a_closed_store_refuses_writes(store: &Store, clock: &ManualClock) {
    ingest(store, vec![event(clock, "a", "t", &["w"])]).await;
    store.flush().await.unwrap();
    store.close().await.unwrap();
    let refused = store
        .ingest(vec![event(clock, "b", "t", &["w"])], WINDOW_MS)
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)), "{refused:?}");
}
