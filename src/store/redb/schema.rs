//! The redb tables, and the invariants that tie them together.
//!
//! Invariants (kept by the writer, which is the only code that writes):
//! 1. A delivery is `pending` if and only if it has exactly one `DUE` entry, keyed
//!    `(webhook, due_at_ms, delivery)`. The scheduler finds work only through `DUE`,
//!    so a pending delivery without an entry would never be sent, and one with two
//!    would be sent twice.
//! 2. An attempt's outcome removes the `DUE` entry it was dispatched from and, for a
//!    retry, inserts the next one, in the same transaction as the attempt record.
//!    A crash before that commit leaves the old entry: the attempt is made again
//!    (at-least-once), never lost.
//! 3. An event is stored in the same transaction as its dedupe key and all of its
//!    deliveries (and their `EVENT_DELIVERIES` entries), and is acknowledged only
//!    after that transaction is durable.
//! 4. A delivery that is not pending has exactly one `FINISHED` entry, keyed
//!    `(status, updated_at_ms, delivery)`: retention finds what to purge through
//!    it, and a replay removes it as it queues the delivery again.
//! 5. A webhook's `Health::failed_deliveries` counts its deliveries whose status is
//!    `failed`: moving into or out of that status (a dead letter, a replay, a purge)
//!    updates it in the same transaction.
//! 6. An event is kept while any `EVENT_DELIVERIES` entry names it. Past that, it
//!    goes (with its dedupe key, if that still points at it) once it is older than
//!    the dedupe window: by the purge that removes its last delivery if the
//!    `"events_purged_before"` cursor has already passed it, else when the cursor
//!    passes it. Every event crosses the cursor once, so none is left behind.
//!
//! 7. An event's `EVENT_TRACES` entry, if it has one, is written in the event's
//!    transaction and deleted with the event.
//!
//! Bump [`SCHEMA_VERSION`] on any change to a key or record layout. A new table is
//! not such a change: [`super::init_schema`] creates it in a file that lacks it,
//! and a file written with it still opens in a build that does not know it.

use redb::TableDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::Error;
use crate::model::DeliveryStatus;

pub const SCHEMA_VERSION: u64 = 4;

/// `"schema_version"` → [`SCHEMA_VERSION`].
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Event key → [`crate::model::EventRecord`].
pub const EVENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("events");
/// `(sender, event id)` → `(event key, received_at_ms)`: idempotency by event id.
pub const DEDUPE: TableDefinition<(&str, &str), (u128, u64)> = TableDefinition::new("dedupe");
/// Delivery id → [`crate::model::DeliveryRecord`].
pub const DELIVERIES: TableDefinition<u128, &[u8]> = TableDefinition::new("deliveries");
/// `(webhook, due_at_ms, delivery id)` → `()`: the time-ordered work queue, per webhook.
pub const DUE: TableDefinition<(&str, u64, u128), ()> = TableDefinition::new("due");
/// Event key → [`crate::model::TraceContext`]: what its attempts' spans continue.
/// Only events that had one (a sender's `traceparent`, or trace export on) have an
/// entry: a table apart rather than a field of [`crate::model::EventRecord`], so files
/// written before it existed read on unchanged.
pub const EVENT_TRACES: TableDefinition<u128, &[u8]> = TableDefinition::new("event_traces");
/// `(event key, delivery id)` → `()`: an event's deliveries.
pub const EVENT_DELIVERIES: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("event_deliveries");
/// `(delivery id, attempt number)` → [`crate::model::AttemptRecord`].
pub const ATTEMPTS: TableDefinition<(u128, u32), &[u8]> = TableDefinition::new("attempts");
/// Webhook id → [`crate::model::Health`].
pub const HEALTH: TableDefinition<&str, &[u8]> = TableDefinition::new("health");
/// `(status code, finished_at_ms, delivery id)` → `()`: finished deliveries, oldest
/// first by status, for retention. See [`status_code`].
pub const FINISHED: TableDefinition<(u8, u64, u128), ()> = TableDefinition::new("finished");
/// Named positions kept between runs: `"events_purged_before"` (an event key).
pub const CURSORS: TableDefinition<&str, u128> = TableDefinition::new("cursors");

/// A finished status's code in `FINISHED` keys; `None` for `pending`.
pub fn status_code(status: DeliveryStatus) -> Option<u8> {
    match status {
        DeliveryStatus::Pending => None,
        DeliveryStatus::Succeeded => Some(1),
        DeliveryStatus::Failed => Some(2),
        DeliveryStatus::Filtered => Some(3),
    }
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_allocvec(value).map_err(|e| Error::Corrupt(e.to_string()))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}
