//! Warnings an attacker can trigger at will (a refused connection, an overloaded
//! ingest) are logged at most once a second, each line saying how many it stands
//! for: the log says what is happening without becoming the next thing to fill
//! the disk. Metrics count every one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a throttled warning may be logged.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct LogLimit(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    /// Occurrences since the last line logged.
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl LogLimit {
    /// Counts one occurrence; `Some(n)` when a line should be logged now, standing
    /// for `n` occurrences (this one included).
    pub fn hit(&self) -> Option<u64> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.unlogged += 1;
        if state.logged_at.is_some_and(|at| at.elapsed() < EVERY) {
            return None;
        }
        state.logged_at = Some(Instant::now());
        Some(std::mem::take(&mut state.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_logged_and_the_next_ones_are_counted_into_the_line_after() {
        let limit = LogLimit::default();
        assert_eq!(limit.hit(), Some(1));
        assert_eq!(limit.hit(), None);
        assert_eq!(limit.hit(), None);
        limit.0.lock().unwrap().logged_at = Some(Instant::now() - EVERY);
        assert_eq!(limit.hit(), Some(3));
    }
}
