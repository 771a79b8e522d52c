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
//!
//! Bump [`SCHEMA_VERSION`] on any change to a key or record layout.

use redb::TableDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

pub const SCHEMA_VERSION: u64 = 3;

/// `"schema_version"` → [`SCHEMA_VERSION`].
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Event key → [`super::EventRecord`].
pub const EVENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("events");
/// `(sender, event id)` → `(event key, received_at_ms)`: idempotency by event id.
pub const DEDUPE: TableDefinition<(&str, &str), (u128, u64)> = TableDefinition::new("dedupe");
/// Delivery id → [`super::DeliveryRecord`].
pub const DELIVERIES: TableDefinition<u128, &[u8]> = TableDefinition::new("deliveries");
/// `(webhook, due_at_ms, delivery id)` → `()`: the time-ordered work queue, per webhook.
pub const DUE: TableDefinition<(&str, u64, u128), ()> = TableDefinition::new("due");
/// `(event key, delivery id)` → `()`: an event's deliveries.
pub const EVENT_DELIVERIES: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("event_deliveries");
/// `(delivery id, attempt number)` → [`super::AttemptRecord`].
pub const ATTEMPTS: TableDefinition<(u128, u32), &[u8]> = TableDefinition::new("attempts");
/// Webhook id → [`super::Health`].
pub const HEALTH: TableDefinition<&str, &[u8]> = TableDefinition::new("health");

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
