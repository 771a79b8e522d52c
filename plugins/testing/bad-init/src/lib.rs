//! Test plugin for the host: a filter whose `init` always fails, to test
//! that a plugin that refuses its config fails the load.

use serde_json::Value;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter};

/// Never gets built.
struct BadInit;

impl Plugin for BadInit {
    type Config = Value;

    fn init(_: Value) -> Result<Self, String> {
        Err("bad-init always refuses its config".to_string())
    }
}

impl Filter for BadInit {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        Ok(true)
    }
}

export_filter!(BadInit);
