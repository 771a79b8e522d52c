//! The plugin's own log lines (its `log` calls, and what it printed), kept for
//! `plugin run`'s report instead of being written to stderr among the tool's own.
//!
//! The runtime writes them as `tracing` events of the host module, carrying a
//! `plugin` field, as the router logs them. A layer of the process's subscriber
//! keeps those, at every level: a plugin author wants its `debug` lines whatever
//! `RUST_LOG` says, and wants them next to the hook that wrote them.

use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// The target of the runtime's events that carry a plugin's own lines.
pub const HOST_TARGET: &str = "switchyard::plugin::host";

/// One line a plugin wrote: its level (`trace` … `error`), or the stream
/// (`stdout`, `stderr`) it printed it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub level: String,
    pub message: String,
}

/// The lines kept so far; cloned into the subscriber and read by `plugin run`.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<Line>>>);

impl Captured {
    /// The lines written since the last time this was asked.
    pub fn take(&self) -> Vec<Line> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != HOST_TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if !fields.plugin {
            return;
        }
        let level = fields
            .stream
            .unwrap_or_else(|| event.metadata().level().as_str().to_ascii_lowercase());
        let line = Line {
            level,
            message: fields.message,
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
}

#[derive(Default)]
struct Fields {
    plugin: bool,
    stream: Option<String>,
    message: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "plugin" => self.plugin = true,
            "stream" => self.stream = Some(value.to_owned()),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "plugin" => self.plugin = true,
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
}
