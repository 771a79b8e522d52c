//! The redb backend's reads for inspection: bounded scans, in pages.
//!
//! Delivery ids are UUIDv7s, whose top 48 bits are their creation time in unix
//! milliseconds: a time window is a key range, and newest-first is a reverse scan.

use redb::{Database, ReadableDatabase};

use super::error::Error;
use super::schema::{self, ATTEMPTS, DELIVERIES, DUE};
use crate::model::{DeliveryId, DeliveryRecord, first_id_at};
use crate::store::{DeliveryQuery, Listed, SCAN_LIMIT};

/// How many of a webhook's soonest-due deliveries [`oldest_pending_ms`] reads.
const OLDEST_SAMPLE: usize = 256;

/// When the oldest pending delivery of `webhook` was created, looking at the
/// [`OLDEST_SAMPLE`] due soonest. Exact unless a delivery older than all of
/// those is waiting on a later retry: bounded work, for a metric read often.
pub(super) fn oldest_pending_ms(db: &Database, webhook: &str) -> Result<Option<u64>, Error> {
    let txn = db.begin_read()?;
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
pub(super) fn list_deliveries(
    db: &Database,
    query: &DeliveryQuery,
    from: Option<DeliveryId>,
    limit: usize,
) -> Result<Listed, Error> {
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
    let txn = db.begin_read()?;
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
