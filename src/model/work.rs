//! What flows between the router's parts and its store: an event to store, the
//! due work a lane claims, an attempt's outcome to record, a replay's answer.

use std::sync::Arc;

#[cfg(doc)]
use super::OnGone;
use super::{AttemptRecord, DeliveryId, DeliveryRecord, DisableAfter, PluginNote, TraceContext};

/// An event to store, with the webhooks it is routed to.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub sender: Arc<str>,
    pub id: String,
    pub event_type: String,
    pub received_at_ms: u64,
    pub payload: Vec<u8>,
    /// Each gets a delivery, due now.
    pub webhooks: Vec<Arc<str>>,
    /// Each gets a delivery that is finished before it is ever queued:
    /// [`super::settle::filter_out`].
    pub filtered_out: Vec<FilteredOut>,
    /// The trace its attempts continue: the sender's, or ingest's span's.
    pub trace: Option<TraceContext>,
}

impl NewEvent {
    /// An event routed to no webhook yet, without a trace context.
    pub fn new(
        sender: Arc<str>,
        id: String,
        event_type: String,
        received_at_ms: u64,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            sender,
            id,
            event_type,
            received_at_ms,
            payload,
            webhooks: Vec::new(),
            filtered_out: Vec::new(),
            trace: None,
        }
    }
}

/// A webhook whose filters turned an event down as it arrived, and what they said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredOut {
    pub webhook: Arc<str>,
    /// The webhook's URL, for the attempt log, as a filtered attempt logs it.
    pub url: String,
    pub notes: Vec<PluginNote>,
    /// How long the filters took.
    pub duration_ms: u64,
}

/// What became of one [`NewEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Stored, with its deliveries due now.
    New,
    /// The sender sent this id within the dedupe window; nothing was stored.
    Duplicate,
}

/// The result of one attempt, to record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery: DeliveryId,
    pub webhook: Arc<str>,
    /// The due time the delivery was dispatched from: its `DUE` key.
    pub dispatched_due_ms: u64,
    pub attempt: AttemptRecord,
    pub next: Next,
    /// The webhook's auto-disable policy, checked against its health as this is recorded.
    pub disable_after: Option<DisableAfter>,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    Retry {
        at_ms: u64,
    },
    /// Dead: out of retries, or a permanent failure.
    Failed,
    /// The receiver answered `410 Gone` and the webhook disables on it
    /// ([`OnGone::Disable`]): the delivery stays pending, due at `at_ms`, and
    /// the webhook is disabled in the same commit, so a resume delivers it.
    Gone {
        at_ms: u64,
    },
    /// A plugin dropped it; never delivered.
    Filtered,
    /// The router could not make the attempt (it ran short of file descriptors or
    /// memory): due again at `at_ms`, and counted toward nothing: not the
    /// delivery's retries, not its webhook's health, not auto-disable.
    Deferred {
        at_ms: u64,
    },
}

impl Next {
    /// Its name in metrics: `succeeded`, `retry`, `failed`, `gone`, `filtered` or
    /// `deferred`.
    pub fn name(self) -> &'static str {
        match self {
            Next::Succeeded => "succeeded",
            Next::Retry { .. } => "retry",
            Next::Failed => "failed",
            Next::Gone { .. } => "gone",
            Next::Filtered => "filtered",
            Next::Deferred { .. } => "deferred",
        }
    }

    /// Whether the attempt says anything of the receiver: a filtered event never
    /// reached it, and a deferred attempt never left the router.
    pub fn judges_receiver(self) -> bool {
        !matches!(self, Next::Filtered | Next::Deferred { .. })
    }
}

/// One scheduled attempt: a delivery and the due time it is queued under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub delivery: DeliveryId,
    pub at_ms: u64,
}

/// What asking to replay a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Queued, due now; the record as it is now.
    Queued(DeliveryRecord),
    /// Still pending: it is not done with its current round.
    StillPending,
    NotFound,
}
