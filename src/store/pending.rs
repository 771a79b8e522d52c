//! How many deliveries each webhook has pending: its `DUE` entries (invariant 1),
//! counted once as the store opens, then kept by the writer as it commits.
//!
//! Counting them on demand is a range scan, ~70 ms for a million entries, and
//! metrics scrapes and webhook views ask for every webhook's count. The writer
//! sees every entry it adds or removes, so it sums its changes through a
//! transaction ([`Changes`]) and applies them once the commit is durable: a count
//! is never ahead of what is on disk, and a transaction that aborts leaves it
//! alone.

use std::collections::HashMap;
use std::sync::RwLock;

use redb::{Database, ReadableDatabase, ReadableTable};

use super::StoreError;
use super::schema::DUE;

/// Pending deliveries per webhook; see the module docs.
#[derive(Debug)]
pub(super) struct Pending(RwLock<HashMap<String, u64>>);

impl Pending {
    /// Counts the `DUE` entries in `db`: once, before the writer starts.
    pub fn count(db: &Database) -> Result<Self, StoreError> {
        let txn = db.begin_read()?;
        let mut counts: HashMap<String, u64> = HashMap::new();
        for entry in txn.open_table(DUE)?.iter()? {
            let (key, _) = entry?;
            let (webhook, _, _) = key.value();
            match counts.get_mut(webhook) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(webhook.to_owned(), 1);
                }
            }
        }
        Ok(Self(RwLock::new(counts)))
    }

    /// Counts again, in place: after the database was reopened.
    pub fn recount(&self, db: &Database) -> Result<(), StoreError> {
        let fresh = Self::count(db)?
            .0
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    pub fn of(&self, webhook: &str) -> u64 {
        let counts = self.0.read().unwrap_or_else(|e| e.into_inner());
        counts.get(webhook).copied().unwrap_or(0)
    }

    /// Applies a committed transaction's changes.
    pub fn apply(&self, changes: Changes) {
        if changes.0.is_empty() {
            return;
        }
        let mut counts = self.0.write().unwrap_or_else(|e| e.into_inner());
        for (webhook, change) in changes.0 {
            let count = counts.entry(webhook).or_default();
            *count = count.saturating_add_signed(change);
        }
    }
}

/// What one transaction did to the counts: `DUE` entries added less those removed.
#[derive(Debug, Default)]
pub(super) struct Changes(HashMap<String, i64>);

impl Changes {
    pub fn add(&mut self, webhook: &str, change: i64) {
        match self.0.get_mut(webhook) {
            Some(sum) => *sum += change,
            None => {
                self.0.insert(webhook.to_owned(), change);
            }
        }
    }
}
