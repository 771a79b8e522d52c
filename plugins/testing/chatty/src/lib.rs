//! Test plugin for the host: a filter that logs `lines` lines (config
//! `{"lines": 300}`) through the `log` import and keeps the event, to test that
//! the host's log rate limit says how many lines it dropped.

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter, log};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Chatty {
    lines: u32,
}

impl Plugin for Chatty {
    type Config = Chatty;

    fn init(config: Chatty) -> Result<Self, String> {
        Ok(config)
    }
}

impl Filter for Chatty {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        for n in 0..self.lines {
            log::info(format!("line {n}"));
        }
        Ok(true)
    }
}

export_filter!(Chatty);
