//! Test plugin for the host: a filter that panics. Plugins build with
//! `panic = "abort"`, so the panic traps the instance.

use switchyard_plugin_sdk::{Event, Filter, NoConfig, Plugin, export_filter};

/// Panics in `filter`.
struct Trap;

impl Plugin for Trap {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, String> {
        Ok(Trap)
    }
}

impl Filter for Trap {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        panic!("the trap plugin always panics");
    }
}

export_filter!(Trap);
