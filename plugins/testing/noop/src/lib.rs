//! Test plugin for the host: all three hooks, each doing the least it can. The
//! filter keeps every event, the transform leaves it unchanged, the classifier
//! says `success`. What a call of it costs is the host's overhead alone
//! (taking an instance, passing the event in and the answer out, checking the
//! answer), which is what `benches/plugins.rs` measures with it.

use switchyard_plugin_sdk::{
    Attempt, Classify, Event, Filter, NoConfig, Plugin, Transform, Transformed, Verdict,
    export_plugin,
};

/// Keeps, leaves unchanged, and judges a success.
struct Noop;

impl Plugin for Noop {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, String> {
        Ok(Noop)
    }
}

impl Filter for Noop {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        Ok(true)
    }
}

impl Transform for Noop {
    fn transform(&self, _event: &Event) -> Result<Transformed, String> {
        Ok(Transformed::Unchanged)
    }
}

impl Classify for Noop {
    fn classify(&self, _event: &Event, _attempt: &Attempt) -> Verdict {
        Verdict::Success
    }
}

export_plugin!(Noop);
