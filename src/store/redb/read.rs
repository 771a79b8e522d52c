//! The redb backend's point reads: each opens its own snapshot, so it always sees
//! a whole commit and never waits for one to finish (only, briefly, for one to
//! write the file's header). Synchronous; the backend runs them on the blocking
//! pool.

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};

use super::error::Error;
use super::schema::{
    self, ATTEMPTS, DEDUPE, DELIVERIES, DUE, EVENT_DELIVERIES, EVENT_TRACES, EVENTS, HEALTH,
};
use crate::model::{AttemptRecord, DeliveryId, DeliveryRecord, Due, EventRecord, Health};
use crate::store::{Leased, Loaded};

/// Up to `limit` of `webhook`'s deliveries due at or before `now_ms`, oldest
/// first, and the earliest due time after `now_ms`.
pub fn due(
    txn: &ReadTransaction,
    webhook: &str,
    now_ms: u64,
    limit: usize,
) -> Result<(Vec<Due>, Option<u64>), Error> {
    let due = txn.open_table(DUE)?;
    let range = due.range((webhook, 0, 0)..=(webhook, now_ms, u128::MAX))?;
    let mut page = Vec::with_capacity(limit.min(1024));
    for entry in range.take(limit) {
        let (key, _) = entry?;
        let (_, at_ms, id) = key.value();
        page.push(Due {
            delivery: DeliveryId(id),
            at_ms,
        });
    }
    let start = now_ms.saturating_add(1);
    let mut later = due.range((webhook, start, 0)..=(webhook, u64::MAX, u128::MAX))?;
    let next = later.next().transpose()?.map(|entry| entry.0.value().1);
    Ok((page, next))
}

/// Each of `due` with its delivery, event and trace context, as an attempt
/// needs them; `None` where the delivery or its event is gone.
pub fn loaded(txn: &ReadTransaction, due: Vec<Due>) -> Result<Vec<Leased>, Error> {
    let deliveries = txn.open_table(DELIVERIES)?;
    let events = txn.open_table(EVENTS)?;
    let traces = txn.open_table(EVENT_TRACES)?;
    let load = |id: DeliveryId| -> Result<Option<Loaded>, Error> {
        let Some(delivery) = record::<DeliveryRecord>(&deliveries, id.0)? else {
            return Ok(None);
        };
        let Some(event) = record(&events, delivery.event.0)? else {
            return Ok(None);
        };
        // A trace context that cannot be read costs the attempt its parent span,
        // not the delivery.
        let trace = record(&traces, delivery.event.0)
            .inspect_err(|e| tracing::debug!(error = %e, "an event's trace context is unreadable"))
            .ok()
            .flatten();
        Ok(Some(Loaded {
            delivery,
            event,
            trace,
        }))
    };
    (due.into_iter())
        .map(|due| {
            Ok(Leased {
                due,
                loaded: load(due.delivery)?,
            })
        })
        .collect()
}

pub fn delivery(db: &Database, id: DeliveryId) -> Result<Option<DeliveryRecord>, Error> {
    let txn = db.begin_read()?;
    record(&txn.open_table(DELIVERIES)?, id.0)
}

/// Every attempt of a delivery, in order.
pub fn attempts(db: &Database, id: DeliveryId) -> Result<Vec<AttemptRecord>, Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ATTEMPTS)?;
    let range = table.range((id.0, 0)..=(id.0, u32::MAX))?;
    range
        .map(|entry| schema::decode(entry?.1.value()))
        .collect()
}

pub fn health(db: &Database, webhook: &str) -> Result<Option<Health>, Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(HEALTH)?;
    let value = table.get(webhook)?;
    value.map(|v| schema::decode(v.value())).transpose()
}

/// The event a sender sent with `id`, if it is still known.
pub fn event_by_sender_id(
    db: &Database,
    sender: &str,
    id: &str,
) -> Result<Option<EventRecord>, Error> {
    let txn = db.begin_read()?;
    let Some(seen) = txn.open_table(DEDUPE)?.get((sender, id))? else {
        return Ok(None);
    };
    let (key, _) = seen.value();
    record(&txn.open_table(EVENTS)?, key)
}

/// The deliveries of the event a sender sent with `id`, oldest first.
pub fn deliveries_of(
    db: &Database,
    sender: &str,
    id: &str,
) -> Result<Vec<(DeliveryId, DeliveryRecord)>, Error> {
    let txn = db.begin_read()?;
    let Some(seen) = txn.open_table(DEDUPE)?.get((sender, id))? else {
        return Ok(Vec::new());
    };
    let (key, _) = seen.value();
    let index = txn.open_table(EVENT_DELIVERIES)?;
    let deliveries = txn.open_table(DELIVERIES)?;
    let mut found = Vec::new();
    for entry in index.range((key, 0)..=(key, u128::MAX))? {
        let (_, delivery) = entry?.0.value();
        if let Some(record) = record(&deliveries, delivery)? {
            found.push((DeliveryId(delivery), record));
        }
    }
    Ok(found)
}

/// The record under `key`, decoded.
fn record<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<u128, &'static [u8]>,
    key: u128,
) -> Result<Option<T>, Error> {
    match table.get(key)? {
        Some(bytes) => schema::decode(bytes.value()).map(Some),
        None => Ok(None),
    }
}
