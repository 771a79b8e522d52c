//! Screening: a webhook's leading filters, run as its events arrive.
//!
//! Most events a filtering webhook is routed are ones it does not want (in
//! `switchyard bench plugins`, nine in ten). Left to the lane, each would be
//! stored as a pending delivery, queued, claimed, loaded, run through the
//! plugins and recorded as filtered: a round trip through the store to learn
//! nothing. Screened here, before the commit, such a delivery is stored already
//! finished as `filtered`, with what the filters said as its attempt, in the
//! same commit as the event, and never queued.
//!
//! Only the filters that come before any transform in the chain run here: they
//! see the event as the sender sent it, as they would at delivery. Screening
//! only ever decides "filtered"; what they keep, or fail on, goes to the lane,
//! which runs the whole chain as it always has (plugins are deterministic, so a
//! kept event is kept again). So a reload's new filter applies to events already
//! queued as well as to new ones, and an event filtered out at ingest stays
//! filtered, as one filtered by the lane does.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Webhook;
use crate::model::{FilteredOut, NewEvent, millis};
use crate::plugin::{self, Chain};

/// The webhooks whose chains begin with a filter, and those chains.
pub(super) struct Screens {
    screens: Arc<[Screen]>,
    /// The plugin threads' turn screening runs in: one for all of ingest, so
    /// screening a request costs one hop to the plugin threads, not one per
    /// webhook. Not a valid webhook id, so it is no webhook's turn.
    turn: Arc<str>,
}

struct Screen {
    webhook: Arc<str>,
    url: String,
    chain: Arc<Chain>,
}

/// An event turned down (its index), and what becomes of its delivery.
type TurnedDown = (usize, FilteredOut);

impl Screens {
    pub fn new(chains: &[(Arc<Webhook>, Arc<Chain>)]) -> Self {
        let screens = (chains.iter())
            .filter(|(webhook, chain)| webhook.enabled && chain.screens())
            .map(|(webhook, chain)| Screen {
                webhook: webhook.id.clone(),
                url: webhook.url.to_string(),
                chain: chain.clone(),
            });
        Self {
            screens: screens.collect(),
            turn: Arc::from("ingest screening"),
        }
    }

    /// Moves each webhook whose leading filters turn an event down from the
    /// event's `webhooks` to its `filtered_out`, in one job on the plugin threads.
    pub async fn apply(&self, events: &mut [NewEvent]) {
        // Per event: the screens it is routed to, and the event as they see it.
        let mut work: Vec<(usize, plugin::Event, Vec<usize>)> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let routed: Vec<usize> = (self.screens.iter().enumerate())
                .filter(|(_, screen)| event.webhooks.contains(&screen.webhook))
                .map(|(at, _)| at)
                .collect();
            if !routed.is_empty() {
                work.push((index, as_plugin_event(event), routed));
            }
        }
        let Some(&first) = work.first().and_then(|(_, _, routed)| routed.first()) else {
            return;
        };
        let screens = self.screens.clone();
        let calls = move || {
            let mut turned_down: Vec<TurnedDown> = Vec::new();
            for (index, mut event, routed) in work {
                for at in routed {
                    let screen = &screens[at];
                    // One copy of the event serves every webhook: only its id differs.
                    event.webhook_id.clear();
                    event.webhook_id.push_str(&screen.webhook);
                    let started = Instant::now();
                    if let Some(notes) = screen.chain.turned_down(&event) {
                        let out = FilteredOut {
                            webhook: screen.webhook.clone(),
                            url: screen.url.clone(),
                            notes,
                            duration_ms: millis(started.elapsed()),
                        };
                        turned_down.push((index, out));
                    }
                }
            }
            turned_down
        };
        // Every chain offloads to the runtime's one pool: any of them will do.
        let chain = &self.screens[first].chain;
        for (index, out) in chain.offload_as(&self.turn, calls).await {
            if let Some(event) = events.get_mut(index) {
                event.webhooks.retain(|webhook| *webhook != out.webhook);
                event.filtered_out.push(out);
            }
        }
    }
}

/// The event as a filter sees it, at ingest as at delivery, but for `webhook-id`.
fn as_plugin_event(event: &NewEvent) -> plugin::Event {
    plugin::Event {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        webhook_id: String::new(),
        sender: event.sender.to_string(),
        received_at_ms: event.received_at_ms,
        headers: Vec::new(),
        body: event.payload.clone(),
    }
}
