//! Listing deliveries for inspection (the admin API) and bulk replay: by filter,
//! newest or oldest first, with their last attempt; in pages, each bounded.
//!
//! A time window is a key range in every backend (ids are time-ordered). The other filters are checked record by record, and one call reads at most
//! [`SCAN_LIMIT`] records: a selective filter over a large table answers a short
//! page and a cursor to go on from, instead of taking unbounded time.

use crate::model::{AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus};

/// The most delivery records one listing reads.
pub const SCAN_LIMIT: usize = 20_000;

/// Which deliveries to list; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub webhook: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    /// Created at or after, in unix milliseconds.
    pub since_ms: Option<u64>,
    /// Created at or before, in unix milliseconds.
    pub until_ms: Option<u64>,
    /// Oldest first, rather than newest first.
    pub oldest_first: bool,
}

impl DeliveryQuery {
    /// Whether `delivery` passes the filters other than its time window.
    pub fn matches(&self, delivery: &DeliveryRecord) -> bool {
        self.webhook.as_ref().is_none_or(|w| delivery.webhook == *w)
            && self.status.is_none_or(|s| delivery.status == s)
            && self
                .event_type
                .as_ref()
                .is_none_or(|t| delivery.event_type == *t)
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
