//! Read-side queries for inspection (the admin API) and bulk replay: deliveries by
//! filter, newest or oldest first, with their last attempt.
//!
//! Delivery ids are UUIDv7s, whose top 48 bits are their creation time in unix
//! milliseconds: a time window is a key range, and newest-first is a reverse scan.
//! The other filters are checked record by record, and one call reads at most
//! [`SCAN_LIMIT`] records: a selective filter over a large table answers a short
//! page and a cursor to go on from, instead of taking unbounded time.

use redb::ReadableDatabase;

use super::records::first_id_at;
use super::schema::{self, ATTEMPTS, DELIVERIES, DUE};
use super::{AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus, Store, StoreError};

/// The most delivery records one listing reads.
pub const SCAN_LIMIT: usize = 20_000;

/// Which deliveries to list; `None` matches anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryQuery<'a> {
    pub webhook: Option<&'a str>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<&'a str>,
    /// Created at or after, in unix milliseconds.
    pub since_ms: Option<u64>,
    /// Created at or before, in unix milliseconds.
    pub until_ms: Option<u64>,
    /// Oldest first, rather than newest first.
    pub oldest_first: bool,
}

impl DeliveryQuery<'_> {
    fn matches(&self, delivery: &DeliveryRecord) -> bool {
        self.webhook.is_none_or(|w| delivery.webhook == w)
            && self.status.is_none_or(|s| delivery.status == s)
            && self.event_type.is_none_or(|t| delivery.event_type == t)
    }
}

/// A page of deliveries, each with its last attempt.
#[derive(Debug)]
pub struct Listed {
    pub deliveries: Vec<(DeliveryId, DeliveryRecord, Option<AttemptRecord>)>,
    /// Where the next page starts, if there may be one.
    pub next: Option<DeliveryId>,
    /// How many records this page read, matching or not.
    pub scanned: usize,
}

/// How many of a webhook's soonest-due deliveries [`Store::oldest_pending_ms`] reads.
const OLDEST_SAMPLE: usize = 256;

impl Store {
    /// When the oldest pending delivery of `webhook` was created, looking at the
    /// [`OLDEST_SAMPLE`] due soonest. Exact unless a delivery older than all of
    /// those is waiting on a later retry: bounded work, for a metric read often.
    pub fn oldest_pending_ms(&self, webhook: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let due = txn.open_table(DUE)?;
        let deliveries = txn.open_table(DELIVERIES)?;
        let mut oldest = None;
        let range = due.range((webhook, 0, 0)..=(webhook, u64::MAX, u128::MAX))?;
        for entry in range.take(OLDEST_SAMPLE) {
            let (_, _, id) = entry?.0.value();
            if let Some(bytes) = deliveries.get(id)? {
                let delivery: DeliveryRecord = schema::decode(bytes.value())?;
                oldest = Some(oldest.map_or(delivery.created_at_ms, |o: u64| {
                    o.min(delivery.created_at_ms)
                }));
            }
        }
        Ok(oldest)
    }

    /// Deliveries matching `query`, in its order, starting at `from` (a previous
    /// page's [`Listed::next`]) if given.
    pub fn list_deliveries(
        &self,
        query: &DeliveryQuery<'_>,
        from: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Listed, StoreError> {
        let mut lower = query.since_ms.map_or(0, first_id_at);
        let mut upper = query.until_ms.map_or(u128::MAX, |ms| {
            first_id_at(ms.saturating_add(1)).saturating_sub(1)
        });
        match from {
            Some(from) if query.oldest_first => lower = lower.max(from.0),
            Some(from) => upper = upper.min(from.0),
            None => {}
        }
        let mut listed = Listed {
            deliveries: Vec::new(),
            next: None,
            scanned: 0,
        };
        if lower > upper {
            return Ok(listed);
        }
        let txn = self.db.get()?.begin_read()?;
        let deliveries = txn.open_table(DELIVERIES)?;
        let attempts = txn.open_table(ATTEMPTS)?;
        let range = deliveries.range(lower..=upper)?;
        let range: Box<dyn Iterator<Item = _>> = if query.oldest_first {
            Box::new(range)
        } else {
            Box::new(range.rev())
        };
        for entry in range {
            let (key, value) = entry?;
            let id = DeliveryId(key.value());
            if listed.deliveries.len() == limit || listed.scanned == SCAN_LIMIT {
                listed.next = Some(id);
                break;
            }
            listed.scanned += 1;
            let delivery: DeliveryRecord = schema::decode(value.value())?;
            if !query.matches(&delivery) {
                continue;
            }
            let last = attempts.range((id.0, 0)..=(id.0, u32::MAX))?.next_back();
            let last = last.map(|e| schema::decode(e?.1.value())).transpose()?;
            listed.deliveries.push((id, delivery, last));
        }
        Ok(listed)
    }
}
