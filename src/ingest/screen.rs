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

use crate::config::Webhook;
use crate::model::{FilteredOut, NewEvent, millis};
use crate::plugin::{self, Chain};

/// The webhooks whose chains begin with a filter, and those chains.
#[derive(Default)]
pub(super) struct Screens(Vec<Screen>);

struct Screen {
    webhook: Arc<str>,
    url: String,
    chain: Arc<Chain>,
}

impl Screens {
    pub fn new(chains: &[(Arc<Webhook>, Arc<Chain>)]) -> Self {
        let screens = (chains.iter())
            .filter(|(webhook, chain)| webhook.enabled && chain.screens())
            .map(|(webhook, chain)| Screen {
                webhook: webhook.id.clone(),
                url: webhook.url.to_string(),
                chain: chain.clone(),
            });
        Self(screens.collect())
    }

    /// Moves each webhook whose leading filters turn an event down from the
    /// event's `webhooks` to its `filtered_out`. Every webhook's share runs at
    /// once, on the plugin threads.
    pub async fn apply(&self, events: &mut [NewEvent]) {
        let mut jobs = Vec::new();
        for screen in &self.0 {
            let routed: Vec<(usize, plugin::Event)> = (events.iter().enumerate())
                .filter(|(_, event)| event.webhooks.contains(&screen.webhook))
                .map(|(index, event)| (index, as_plugin_event(event, &screen.webhook)))
                .collect();
            if !routed.is_empty() {
                jobs.push((screen, screen.chain.screen(routed)));
            }
        }
        for (screen, job) in jobs {
            for turned_down in job.await {
                let Some(event) = events.get_mut(turned_down.index) else {
                    continue;
                };
                event.webhooks.retain(|webhook| *webhook != screen.webhook);
                event.filtered_out.push(FilteredOut {
                    webhook: screen.webhook.clone(),
                    url: screen.url.clone(),
                    notes: turned_down.notes,
                    duration_ms: millis(turned_down.took),
                });
            }
        }
    }
}

/// The event as a filter sees it, at ingest as at delivery.
fn as_plugin_event(event: &NewEvent, webhook: &str) -> plugin::Event {
    plugin::Event {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        webhook_id: webhook.to_owned(),
        sender: event.sender.to_string(),
        received_at_ms: event.received_at_ms,
        headers: Vec::new(),
        body: event.payload.clone(),
    }
}
