//! Test plugin for the host: a filter that loops forever, to test that a
//! call's CPU time is bounded.

use std::hint::black_box;

use switchyard_plugin_sdk::{Event, Filter, NoConfig, Plugin, export_filter};

/// Never returns from `filter`.
struct Spin;

impl Plugin for Spin {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, String> {
        Ok(Spin)
    }
}

impl Filter for Spin {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        // `black_box` hides the counter from the optimizer, so the loop stays.
        let mut turns: u64 = 0;
        loop {
            turns = black_box(turns.wrapping_add(1));
        }
    }
}

export_filter!(Spin);
