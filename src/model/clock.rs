//! The router's clock: wall time in unix milliseconds, injected rather than read
//! from a free function, so that tests move time instead of sleeping.
//!
//! Every due time, dedupe window, retention cutoff and attempt timestamp is read
//! from the one [`Clock`] the server is started with. [`Clock::system`] is the
//! operating system's clock. A [`ManualClock`] stands still until a test moves it,
//! and whatever waits on it ([`Clock::sleep_until`]: a lane's next due time, the
//! purge's interval) wakes when the time it waits for is reached. Timeouts of
//! network I/O stay on tokio's clock: they measure the peer, not the schedule.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// Wall time for the router; clones share it. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// `None`: the system clock.
    manual: Option<Arc<watch::Sender<u64>>>,
}

impl Clock {
    /// The operating system's clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        match &self.manual {
            None => system_now_ms(),
            Some(now) => *now.borrow(),
        }
    }

    /// Waits until the clock reads `at_ms` or later.
    pub async fn sleep_until(&self, at_ms: u64) {
        match &self.manual {
            None => {
                let wait = at_ms.saturating_sub(system_now_ms());
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            Some(now) => {
                let mut moved = now.subscribe();
                // The sender lives in `self` for as long as this waits, so the
                // channel cannot close under it.
                let _ = moved.wait_for(|now| *now >= at_ms).await;
            }
        }
    }

    /// Waits for `duration` to pass on this clock.
    pub async fn sleep(&self, duration: Duration) {
        self.sleep_until(self.now_ms().saturating_add(millis(duration)))
            .await;
    }
}

/// A clock that only moves when told to: what tests start the router with.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<watch::Sender<u64>>);

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn starting_at(now_ms: u64) -> Self {
        Self(Arc::new(watch::Sender::new(now_ms)))
    }

    /// A clock standing at the system's time now.
    pub fn starting_now() -> Self {
        Self::starting_at(system_now_ms())
    }

    /// The [`Clock`] to hand the router.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(self.0.clone()),
        }
    }

    pub fn now_ms(&self) -> u64 {
        *self.0.borrow()
    }

    /// Moves the clock forward by `by`, waking whatever waited for a time now past.
    pub fn advance(&self, by: Duration) {
        self.0
            .send_modify(|now| *now = now.saturating_add(millis(by)));
    }
}

/// A duration in whole milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_moved_past_their_time() {
        let manual = ManualClock::starting_at(1_000);
        let clock = manual.clock();
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(1_500).await }
        });
        manual.advance(Duration::from_millis(499));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its time");
        manual.advance(Duration::from_millis(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now_ms(), 1_500);
    }

    #[test]
    fn millis_saturate() {
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(millis(Duration::from_micros(1_999)), 1);
    }
}
