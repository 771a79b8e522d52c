//! Claims' leases, in memory: which due deliveries a lane has taken and until when.
//!
//! A claimed delivery keeps its due entry until its outcome is committed (schema
//! invariant 2), so the entry alone cannot say it is taken; the lease does, and
//! the entry and the lease overlap, never leave a gap. Only this process opens the
//! data file, so a lease dies with the process that held it: at the next start
//! every due entry is claimable again, which is at-least-once delivery. A lease
//! that runs out (an attempt that outlived it) makes its delivery claimable
//! again rather than stranding it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{DeliveryId, Due};

/// Per webhook: the deliveries leased, and when each lease runs out (unix ms).
#[derive(Debug, Default)]
pub(super) struct Leases(Mutex<HashMap<String, HashMap<DeliveryId, u64>>>);

impl Leases {
    /// How many of `webhook`'s deliveries are leased (run out or not).
    pub fn held(&self, webhook: &str) -> usize {
        let leases = self.0.lock().unwrap_or_else(|e| e.into_inner());
        leases.get(webhook).map_or(0, HashMap::len)
    }

    /// Leases up to `limit` of `due` (oldest first) that no live lease holds,
    /// until `until_ms`.
    pub fn take(
        &self,
        webhook: &str,
        due: Vec<Due>,
        limit: usize,
        now_ms: u64,
        until_ms: u64,
    ) -> Vec<Due> {
        let mut leases = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let held = match leases.get_mut(webhook) {
            Some(held) => held,
            None => leases.entry(webhook.to_owned()).or_default(),
        };
        let mut taken = Vec::with_capacity(due.len().min(limit));
        for entry in due {
            if taken.len() == limit {
                break;
            }
            match held.get_mut(&entry.delivery) {
                Some(expires) if *expires > now_ms => continue,
                Some(expires) => *expires = until_ms,
                None => {
                    held.insert(entry.delivery, until_ms);
                }
            }
            taken.push(entry);
        }
        taken
    }

    pub fn release(&self, webhook: &str, delivery: DeliveryId) {
        let mut leases = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = leases.get_mut(webhook) {
            held.remove(&delivery);
            // A webhook with nothing leased keeps no entry: webhooks come and go.
            if held.is_empty() {
                leases.remove(webhook);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(id: u128) -> Due {
        Due {
            delivery: DeliveryId(id),
            at_ms: 0,
        }
    }

    #[test]
    fn a_leased_delivery_is_skipped_until_released_or_run_out() {
        let leases = Leases::default();
        let all = || vec![due(1), due(2), due(3)];
        assert_eq!(leases.take("w", all(), 2, 0, 100), [due(1), due(2)]);
        assert_eq!(leases.held("w"), 2);
        assert_eq!(leases.take("w", all(), 2, 50, 150), [due(3)]);
        leases.release("w", DeliveryId(2));
        assert_eq!(leases.take("w", all(), 5, 60, 160), [due(2)]);
        // Delivery 1's lease ran out at 100: it is claimable again.
        assert_eq!(leases.take("w", all(), 5, 100, 200), [due(1)]);
        assert!(leases.take("v", all(), 0, 0, 1).is_empty());
    }
}
