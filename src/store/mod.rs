//! Durable state behind a seam: what the router asks of storage, as traits, and
//! the backends that answer.
//!
//! The rest of the router holds a [`Store`] and never a backend's own types. Three
//! traits say what it may ask, grouped by who asks:
//! - [`Queue`]: the hot path. Ingest stores events with their due deliveries; a
//!   lane claims due work, loaded (a lease, so that several processes sharing one
//!   backend never dispatch the same delivery at once), and records the outcome.
//! - [`Inspect`]: the admin API's and the metrics' reads.
//! - [`Maintain`]: an operator's or the purge's writes: status, replay, purge.
//!
//! What an outcome or a replay does to a delivery is not a backend's to decide:
//! every backend applies [`crate::model::settle`]. And every backend publishes a
//! change feed ([`feed`]) after each commit, which is how the lanes learn of new
//! work and of status changes; nothing else wakes or holds them.
//!
//! [`conformance`] is the spec, as tests generic over the traits: a backend is
//! done when it passes them. [`redb`] is the embedded backend, the default.

pub mod conformance;
mod error;
pub mod feed;
mod query;
pub mod redb;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{
    AttemptRecord, DeliveryId, DeliveryRecord, Disabled, Due, EventRecord, Health, Ingested,
    NewEvent, Outcome, Replayed, TraceContext, WebhookStatus,
};

pub use error::{OpenError, StoreError};
pub use feed::{Changed, Feed};
pub use query::{DeliveryQuery, Listed, SCAN_LIMIT};

/// The due queue: what ingest and the lanes ask of storage.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Stores events with their dedupe keys and one due delivery per webhook, in
    /// one durable commit (shared with whatever else is queued meanwhile), and
    /// answers once it is durable. An id the sender sent within
    /// `dedupe_window_ms` is a duplicate: nothing of it is stored.
    async fn ingest(
        &self,
        events: Vec<NewEvent>,
        dedupe_window_ms: u64,
    ) -> Result<Vec<Ingested>, StoreError>;

    /// Leases up to `limit` of `webhook`'s deliveries due at or before `now_ms`,
    /// oldest first, for `lease`: until it runs out or the claimer releases it, no
    /// other claim returns that delivery, under any due time. Recording an outcome
    /// does not release it: the claimer does, once it has heard the outcome is
    /// committed, so that a claim that read the queue before that commit cannot
    /// hand the delivery out again.
    ///
    /// Each comes loaded (delivery, event, trace context), read with the page:
    /// one read per claim, not one per delivery, since a claim is the lane's only
    /// wait on the store before its attempts start.
    async fn claim(
        &self,
        webhook: &str,
        now_ms: u64,
        limit: usize,
        lease: Duration,
    ) -> Result<Claim, StoreError>;

    /// Lets a claimed delivery go: claimable again at once, at whatever due time
    /// it has now (none if its outcome finished it).
    async fn release(&self, webhook: &str, due: Due) -> Result<(), StoreError>;

    /// Records an attempt and moves its delivery on, as [`crate::model::settle`]
    /// rules; `Some` if that disabled its webhook. Shared, not copied: a caller
    /// keeps its `Arc` to record again if this fails.
    async fn record(&self, outcome: Arc<Outcome>) -> Result<Option<Disabled>, StoreError>;

    /// Drops a due entry whose delivery is no longer pending (or no longer exists).
    async fn unqueue(&self, webhook: &str, due: Due) -> Result<(), StoreError>;
}

/// Reads for the admin API, the metrics and bulk replay.
#[async_trait]
pub trait Inspect: Send + Sync {
    async fn delivery(&self, id: DeliveryId) -> Result<Option<DeliveryRecord>, StoreError>;

    /// Every attempt of a delivery, in order.
    async fn attempts(&self, id: DeliveryId) -> Result<Vec<AttemptRecord>, StoreError>;

    async fn health(&self, webhook: &str) -> Result<Option<Health>, StoreError>;

    /// The event a sender sent with `id`, if it is still known.
    async fn event_by_sender_id(
        &self,
        sender: &str,
        id: &str,
    ) -> Result<Option<EventRecord>, StoreError>;

    /// The deliveries of the event a sender sent with `id`, oldest first.
    async fn deliveries_of(
        &self,
        sender: &str,
        id: &str,
    ) -> Result<Vec<(DeliveryId, DeliveryRecord)>, StoreError>;

    /// Deliveries matching `query`, in its order, from `from` (a previous page's
    /// [`Listed::next`]) if given; one call reads at most [`SCAN_LIMIT`] records.
    async fn list_deliveries(
        &self,
        query: DeliveryQuery,
        from: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Listed, StoreError>;

    /// When the oldest pending delivery of `webhook` was created: exact, or a
    /// bounded estimate where exactness would cost a scan (the backend says which).
    async fn oldest_pending_ms(&self, webhook: &str) -> Result<Option<u64>, StoreError>;

    /// How many of `webhook`'s deliveries are due at `now_ms`, counting up to `up_to`.
    async fn count_due(
        &self,
        webhook: &str,
        now_ms: u64,
        up_to: usize,
    ) -> Result<usize, StoreError>;

    /// How many deliveries of `webhook` are pending, as of the last commit; from
    /// memory, cheap enough for every scrape.
    fn pending_count(&self, webhook: &str) -> u64;

    /// `webhook`'s status as of the last commit; from memory. A lane reads it
    /// before each round of dispatching: the stored status is the one truth.
    fn status(&self, webhook: &str) -> WebhookStatus;

    /// Whether the store takes writes now.
    fn is_writable(&self) -> bool;

    /// What the backend takes up, for the metrics.
    fn usage(&self) -> Usage;
}

/// An operator's and the purge's writes.
#[async_trait]
pub trait Maintain: Send + Sync {
    /// Sets a webhook's status in its health record, as [`Health::set_status`] rules.
    async fn set_status(&self, webhook: &str, status: WebhookStatus) -> Result<(), StoreError>;

    /// Queues finished deliveries again, due now, for a fresh round of attempts
    /// under the same ids (as [`crate::model::settle::reopen`] rules), in one
    /// commit; answers in their order.
    async fn replay(&self, ids: Vec<DeliveryId>) -> Result<Vec<Replayed>, StoreError>;

    /// Deletes one batch of what `purge` lets go: a short commit, so that purging a
    /// large backlog never holds up ingest for long.
    async fn purge(&self, purge: Purge) -> Result<Purged, StoreError>;

    /// Waits until every write queued before this call is committed.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Commits what is queued and lets go of the storage; later writes fail with
    /// [`StoreError::Closed`].
    async fn close(&self) -> Result<(), StoreError>;
}

/// A storage backend: every trait, and the change feed.
pub trait Backend: Queue + Inspect + Maintain {
    /// A subscription to the change feed, from now on.
    fn subscribe(&self) -> Feed;
}

/// What a [`Queue::claim`] leased, and when to look again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// Oldest first, each loaded for its attempt.
    pub leased: Vec<Leased>,
    /// The earliest due time after `now_ms`, when the claim took fewer than its
    /// limit: when the lane should look again if nothing wakes it first.
    pub next_at_ms: Option<u64>,
}

/// A claimed due entry, with what its attempt needs; `None` if the entry names
/// a delivery (or an event) that is no longer there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    pub due: Due,
    pub loaded: Option<Loaded>,
}

/// A due delivery, loaded for its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub delivery: DeliveryRecord,
    pub event: EventRecord,
    pub trace: Option<TraceContext>,
}

/// One batch of purging. Cutoffs are absolute times, computed by the caller: a
/// test can purge "as of a week from now" without waiting for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    /// Succeeded and filtered deliveries finished before this (unix ms) go.
    pub succeeded_before_ms: u64,
    /// Failed (dead) deliveries finished before this go.
    pub failed_before_ms: u64,
    /// Events received before this go, with their dedupe keys, once no delivery names them.
    pub events_before_ms: u64,
    /// The most deliveries, and the most events, one batch deletes.
    pub limit: usize,
}

/// What one batch deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub deliveries: usize,
    pub events: usize,
    /// The batch hit its limit: there may be more to purge right away.
    pub more: bool,
}

/// What a backend takes up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes on disk, where the backend can tell.
    pub bytes: Option<u64>,
}

/// The store the router runs on; clones share it.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Store {
    pub fn new(backend: impl Backend + 'static) -> Self {
        Self(Arc::new(backend))
    }

    /// Replays one delivery; see [`Maintain::replay`].
    pub async fn replay_one(&self, id: DeliveryId) -> Result<Replayed, StoreError> {
        let replayed = self.0.replay(vec![id]).await?.pop();
        replayed.ok_or_else(|| StoreError::Corrupt("a replay answered nothing".into()))
    }
}

impl Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}
