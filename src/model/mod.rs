//! The domain: what the router keeps and the rules that move it, free of storage,
//! HTTP and plugins.
//!
//! Every other part speaks these types: ingest builds a [`NewEvent`], a lane claims
//! [`Due`] work and records an [`Outcome`], the admin API shows the records. The
//! store keeps them, and applies the delivery state machine of [`settle`] rather
//! than writing rules of its own, so that every backend moves a delivery the same
//! way. Nothing here depends on another module of the router.

mod clock;
mod health;
mod id;
mod names;
mod record;
pub mod settle;
mod trace;
mod work;

pub use clock::{Clock, ManualClock, millis};
pub use health::{DisableAfter, Disabled, GONE_REASON, Health, OnGone, WebhookStatus};
pub(crate) use id::first_id_at;
pub use id::{DeliveryId, EventKey, InvalidId};
pub use names::{is_event_id, is_event_type, is_webhook_id};
pub use record::{
    AttemptError, AttemptRecord, DeliveryRecord, DeliveryStatus, ErrorKind, EventRecord,
    PluginNote, RESPONSE_EXCERPT_BYTES,
};
pub use trace::TraceContext;
pub use work::{Due, FilteredOut, Ingested, NewEvent, Next, Outcome, Replayed};
