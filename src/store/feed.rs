//! The change feed: after each commit, the store says which webhooks gained due
//! work and which changed status.
//!
//! It is how the lanes learn of work. Ingest, a replay and an operator's pause
//! or resume only write to the store; the scheduler follows the feed and wakes
//! the lanes named (the delivery scheduler). No caller has to remember to wake
//! anyone, and a change made by another process sharing the backend arrives the
//! same way.
//!
//! A notice is published only once its commit is durable, and before the writers
//! in it are answered. A subscriber that falls behind loses notices, not
//! correctness: it is told so ([`Changed::everything`]) and looks at everything.

use std::sync::Arc;

use tokio::sync::broadcast;

/// How many notices a subscriber may fall behind before it misses some.
const BACKLOG: usize = 1024;

/// What one commit changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Webhooks with a delivery newly due (an event, a retry, a replay).
    pub due: Vec<Arc<str>>,
    /// Webhooks whose status changed (paused, resumed, disabled).
    pub status: Vec<Arc<str>>,
    /// Anything may have changed: notices were missed, or the backend recovered
    /// from an error and cannot say what its last commit did.
    pub everything: bool,
}

impl Changed {
    pub fn is_empty(&self) -> bool {
        self.due.is_empty() && self.status.is_empty() && !self.everything
    }

    /// Every webhook named, once or more.
    pub fn webhooks(&self) -> impl Iterator<Item = &Arc<str>> {
        self.due.iter().chain(&self.status)
    }
}

/// The publishing end, owned by a backend.
#[derive(Debug, Clone)]
pub struct Publisher(broadcast::Sender<Arc<Changed>>);

impl Default for Publisher {
    fn default() -> Self {
        Self(broadcast::Sender::new(BACKLOG))
    }
}

impl Publisher {
    pub fn publish(&self, changed: Changed) {
        if !changed.is_empty() {
            // No subscriber is no one to tell.
            let _ = self.0.send(Arc::new(changed));
        }
    }

    pub fn subscribe(&self) -> Feed {
        Feed(self.0.subscribe())
    }
}

/// A subscription to the change feed.
#[derive(Debug)]
pub struct Feed(broadcast::Receiver<Arc<Changed>>);

impl Feed {
    /// The next notice; `None` once the store is gone.
    pub async fn next(&mut self) -> Option<Arc<Changed>> {
        match self.0.recv().await {
            Ok(changed) => Some(changed),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Arc::new(Changed {
                everything: true,
                ..Changed::default()
            })),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}
