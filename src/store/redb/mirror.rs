//! What the rest of the router reads often, kept in memory as each commit lands:
//! each webhook's pending count (its `DUE` entries, invariant 1) and its status.
//! The same step publishes the change feed.
//!
//! Counting pending deliveries on demand is a range scan, ~70 ms for a million
//! entries, and metrics scrapes and webhook views ask for every webhook's count;
//! a lane reads its webhook's status before each round. So both are read from the
//! file once, as the store opens, and then kept by the writer: it sums what a
//! transaction does ([`Changes`]) and applies it once the commit is durable, so
//! the mirror is never ahead of what is on disk, and a transaction that aborts
//! leaves it alone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::error::Error;
use super::schema::{self, DUE, HEALTH};
use crate::model::{Health, WebhookStatus};
use crate::store::Changed;
use crate::store::feed::Publisher;

#[derive(Debug)]
pub(super) struct Mirror {
    pending: RwLock<HashMap<String, u64>>,
    statuses: RwLock<HashMap<String, WebhookStatus>>,
    feed: Publisher,
}

impl Mirror {
    /// Reads the counts and statuses from `db`: once, before the writer starts.
    pub fn load(db: &Database, feed: Publisher) -> Result<Self, Error> {
        let (pending, statuses) = read(db)?;
        Ok(Self {
            pending: RwLock::new(pending),
            statuses: RwLock::new(statuses),
            feed,
        })
    }

    /// Reads them again, in place, after the database was reopened; since a
    /// commit that failed may have reached the disk, the feed says anything may
    /// have changed.
    pub fn reload(&self, db: &Database) -> Result<(), Error> {
        let (pending, statuses) = read(db)?;
        *self.pending.write().unwrap_or_else(|e| e.into_inner()) = pending;
        *self.statuses.write().unwrap_or_else(|e| e.into_inner()) = statuses;
        self.feed.publish(Changed {
            everything: true,
            ..Changed::default()
        });
        Ok(())
    }

    pub fn pending(&self, webhook: &str) -> u64 {
        let counts = self.pending.read().unwrap_or_else(|e| e.into_inner());
        counts.get(webhook).copied().unwrap_or(0)
    }

    pub fn status(&self, webhook: &str) -> WebhookStatus {
        let statuses = self.statuses.read().unwrap_or_else(|e| e.into_inner());
        statuses.get(webhook).copied().unwrap_or_default()
    }

    /// Applies a committed transaction's changes, then tells the feed.
    pub fn apply(&self, changes: Changes) {
        if !changes.queued.is_empty() {
            let mut counts = self.pending.write().unwrap_or_else(|e| e.into_inner());
            for (webhook, queued) in &changes.queued {
                let count = match counts.get_mut(webhook.as_ref()) {
                    Some(count) => count,
                    None => counts.entry(webhook.to_string()).or_default(),
                };
                *count = count.saturating_add_signed(queued.change);
            }
        }
        if !changes.statuses.is_empty() {
            let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
            for (webhook, status) in &changes.statuses {
                statuses.insert(webhook.to_string(), *status);
            }
        }
        let due = (changes.queued.into_iter())
            .filter(|(_, queued)| queued.gained)
            .map(|(webhook, _)| webhook)
            .collect();
        self.feed.publish(Changed {
            due,
            status: changes.statuses.into_keys().collect(),
            everything: false,
        });
    }
}

/// Pending counts and statuses, by webhook.
type Read = (HashMap<String, u64>, HashMap<String, WebhookStatus>);

fn read(db: &Database) -> Result<Read, Error> {
    let txn = db.begin_read()?;
    let mut pending: HashMap<String, u64> = HashMap::new();
    for entry in txn.open_table(DUE)?.iter()? {
        let (key, _) = entry?;
        let (webhook, _, _) = key.value();
        match pending.get_mut(webhook) {
            Some(count) => *count += 1,
            None => {
                pending.insert(webhook.to_owned(), 1);
            }
        }
    }
    let mut statuses = HashMap::new();
    for entry in txn.open_table(HEALTH)?.iter()? {
        let (webhook, health) = entry?;
        let health: Health = schema::decode(health.value())?;
        statuses.insert(webhook.value().to_owned(), health.status);
    }
    Ok((pending, statuses))
}

/// What one transaction did: per webhook, its `DUE` entries added less those
/// removed and whether it gained one; and the statuses set.
#[derive(Debug, Default)]
pub(super) struct Changes {
    queued: HashMap<Arc<str>, Queued>,
    statuses: HashMap<Arc<str>, WebhookStatus>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Queued {
    change: i64,
    gained: bool,
}

impl Changes {
    pub fn queued(&mut self, webhook: &str) {
        self.add(webhook, 1);
    }

    pub fn unqueued(&mut self, webhook: &str) {
        self.add(webhook, -1);
    }

    pub fn status(&mut self, webhook: &str, status: WebhookStatus) {
        self.statuses.insert(Arc::from(webhook), status);
    }

    fn add(&mut self, webhook: &str, change: i64) {
        let gained = change > 0;
        match self.queued.get_mut(webhook) {
            Some(queued) => {
                queued.change += change;
                queued.gained |= gained;
            }
            None => {
                self.queued
                    .insert(Arc::from(webhook), Queued { change, gained });
            }
        }
    }
}
