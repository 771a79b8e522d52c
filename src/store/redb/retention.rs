//! Retention: deleting what the store no longer has to keep, a small batch at a time.
//!
//! Finished deliveries are found through the `FINISHED` index, oldest first by
//! status, so a purge reads only what it deletes: never a scan of the history. A
//! delivery goes with its attempts and its `EVENT_DELIVERIES` entry; an event goes
//! once no delivery names it and it is older than the dedupe window (schema
//! invariant 6), taking its dedupe key along. Each batch is one operation of the
//! writer, bounded by [`Purge::limit`], so it shares a commit with ingest without
//! making that commit long. redb reuses the pages it frees, so under a steady load
//! the data file stops growing once retention has caught up.
//!
//! Cutoffs are absolute times, computed by the caller: a test can purge "as of
//! a week from now" without waiting for one.

use redb::ReadableTable;

use super::error::Error;
use super::schema::{self, status_code};
use super::writer::Tables;
use crate::model::settle;
use crate::model::{DeliveryRecord, DeliveryStatus, EventRecord, first_id_at};
use crate::store::{Purge, Purged};

/// How far the event cursor has got: events with smaller keys have been visited.
const EVENTS_CURSOR: &str = "events_purged_before";

/// `META` key: bytes of records purged since the data file was last compacted.
/// [`super::RedbStore::open`] compacts when they reach half the file, without walking
/// the file to measure its free space.
pub(super) const PURGED_BYTES: &str = "purged_bytes_since_compaction";

/// What a batch deleted so far, and the bytes it freed: those go to
/// [`PURGED_BYTES`], not to the caller.
#[derive(Debug, Default)]
struct Tally {
    deliveries: usize,
    events: usize,
    bytes: u64,
}

impl Tables<'_> {
    /// Deletes one batch of what retention lets go, bounded by [`Purge::limit`].
    pub(super) fn purge(&mut self, purge: &Purge) -> Result<Purged, Error> {
        let mut purged = Tally::default();
        let cursor = self.cursors.get(EVENTS_CURSOR)?.map_or(0, |c| c.value());
        let cutoffs = [
            (DeliveryStatus::Succeeded, purge.succeeded_before_ms),
            (DeliveryStatus::Filtered, purge.succeeded_before_ms),
            (DeliveryStatus::Failed, purge.failed_before_ms),
        ];
        for (status, before_ms) in cutoffs {
            let Some(code) = status_code(status) else {
                continue;
            };
            let budget = purge.limit - purged.deliveries;
            let expired = (self.finished.range((code, 0, 0)..(code, before_ms, 0))?)
                .take(budget)
                .map(|entry| entry.map(|(key, _)| key.value()))
                .collect::<Result<Vec<_>, _>>()?;
            for key in expired {
                self.purge_delivery(key, cursor, &mut purged)?;
                purged.deliveries += 1;
            }
        }
        let more_events = self.purge_events(cursor, purge, &mut purged)?;
        let before = self.meta.get(PURGED_BYTES)?.map_or(0, |v| v.value());
        self.meta
            .insert(PURGED_BYTES, before.saturating_add(purged.bytes))?;
        Ok(Purged {
            deliveries: purged.deliveries,
            events: purged.events,
            more: purged.deliveries == purge.limit || more_events,
        })
    }

    /// Deletes a finished delivery, its attempts and its index entries; then its
    /// event too, if the event cursor has passed it and nothing else names it.
    fn purge_delivery(
        &mut self,
        (code, at_ms, id): (u8, u64, u128),
        cursor: u128,
        purged: &mut Tally,
    ) -> Result<(), Error> {
        let delivery = match self.deliveries.get(id)? {
            Some(bytes) => schema::decode::<DeliveryRecord>(bytes.value()).map(Some),
            None => Ok(None),
        };
        self.finished.remove((code, at_ms, id))?;
        let delivery = match delivery {
            Ok(Some(d)) if status_code(d.status) == Some(code) && d.updated_at_ms == at_ms => d,
            // An entry that no longer describes its delivery is dropped alone.
            Ok(_) => return Ok(()),
            Err(e) => {
                // Unreadable, it can never be shown or replayed: let it go rather
                // than stop every later purge at it. Its event stays.
                tracing::warn!(delivery = id, error = %e, "purging an unreadable delivery");
                return self.remove_delivery(id, purged);
            }
        };
        if settle::purge_touches_health(&delivery) {
            let mut health = self.health_of(&delivery.webhook)?;
            settle::forget_purged(&delivery, &mut health);
            self.put_health(&delivery.webhook, &health)?;
        }
        self.remove_delivery(id, purged)?;
        let event = delivery.event.0;
        self.event_deliveries.remove((event, id))?;
        if event < cursor && !self.is_referenced(event)? {
            self.remove_event(event, purged)?;
        }
        Ok(())
    }

    /// Deletes a delivery's record and attempts.
    fn remove_delivery(&mut self, id: u128, purged: &mut Tally) -> Result<(), Error> {
        let mut bytes = (self.deliveries.remove(id)?).map_or(0, |v| v.value().len());
        (self.attempts).retain_in((id, 0)..=(id, u32::MAX), |_, attempt| {
            bytes += attempt.len();
            false
        })?;
        purged.bytes += bytes as u64;
        Ok(())
    }

    /// Moves the event cursor on towards `events_before_ms`, deleting each event it
    /// passes that no delivery names. Returns whether it stopped at its limit.
    fn purge_events(
        &mut self,
        cursor: u128,
        purge: &Purge,
        purged: &mut Tally,
    ) -> Result<bool, Error> {
        let upto = first_id_at(purge.events_before_ms);
        if upto <= cursor {
            return Ok(false);
        }
        let keys = (self.events.range(cursor..upto)?)
            .take(purge.limit)
            .map(|entry| entry.map(|(key, _)| key.value()))
            .collect::<Result<Vec<u128>, _>>()?;
        for &key in &keys {
            if !self.is_referenced(key)? {
                self.remove_event(key, purged)?;
            }
        }
        let more = keys.len() == purge.limit;
        let next = match keys.last() {
            Some(&last) if more => last.saturating_add(1),
            _ => upto,
        };
        self.cursors.insert(EVENTS_CURSOR, next)?;
        Ok(more)
    }

    fn is_referenced(&self, event: u128) -> Result<bool, Error> {
        let mut range = self
            .event_deliveries
            .range((event, 0)..=(event, u128::MAX))?;
        Ok(range.next().transpose()?.is_some())
    }

    /// Deletes an event, and its dedupe key if that still points at it (a sender
    /// may have reused the id after the window, for a newer event).
    fn remove_event(&mut self, key: u128, purged: &mut Tally) -> Result<(), Error> {
        let record = match self.events.get(key)? {
            Some(bytes) => schema::decode::<EventRecord>(bytes.value()),
            None => return Ok(()),
        };
        if let Ok(event) = &record {
            let dedupe_key = (event.sender.as_str(), event.id.as_str());
            let points_here = (self.dedupe.get(dedupe_key)?).is_some_and(|v| v.value().0 == key);
            if points_here {
                self.dedupe.remove(dedupe_key)?;
            }
        }
        let removed = self.events.remove(key)?;
        purged.bytes += removed.map_or(0, |v| v.value().len() as u64);
        let trace = self.event_traces.remove(key)?;
        purged.bytes += trace.map_or(0, |v| v.value().len() as u64);
        purged.events += 1;
        Ok(())
    }
}
