//! Test plugin for the host: a filter that loops forever, to test that a
//! call's CPU time is bounded; or, with config `{"turns": n}`, loops `n` times
//! and keeps the event, to test that a call within its budget passes however
//! loaded the machine is.

use std::hint::black_box;

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter};

/// Loops `turns` times in `filter`, or forever.
struct Spin {
    turns: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    turns: Option<u64>,
}

impl Plugin for Spin {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(Spin {
            turns: config.turns,
        })
    }
}

impl Filter for Spin {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        // `black_box` hides the counter from the optimizer, so the loop stays.
        let mut turns: u64 = 0;
        loop {
            turns = black_box(turns.wrapping_add(1));
            if self.turns.is_some_and(|n| turns >= n) {
                return Ok(true);
            }
        }
    }
}

export_filter!(Spin);
