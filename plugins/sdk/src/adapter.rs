//! The adapter that implements the generated `Guest` traits on top of the
//! SDK's traits, and the instance state it keeps.

use std::any::Any;
use std::cell::OnceCell;
use std::marker::PhantomData;

use crate::bindings::classify::exports::switchyard::plugin::classify::Guest as ClassifyGuest;
use crate::bindings::filter::exports::switchyard::plugin::filter::Guest as FilterGuest;
use crate::bindings::init::exports::switchyard::plugin::init::Guest as InitGuest;
use crate::bindings::init::switchyard::plugin::types as wit;
use crate::bindings::transform::exports::switchyard::plugin::transform::Guest as TransformGuest;
use crate::{Classify, Filter, Plugin, Transform, Verdict, load, log};

thread_local! {
    /// The plugin `init` built. A component instance runs `init` once and
    /// on one thread, so one slot per instance is all there is.
    static PLUGIN: OnceCell<Box<dyn Any>> = const { OnceCell::new() };
}

/// Implements the generated `Guest` traits for the plugin type `T`.
pub struct Adapter<T>(PhantomData<T>);

/// Compile-time checks that give a clear error for a plugin type that lacks a
/// trait its export macro needs.
pub const fn require_filter<T: Filter>() {}
/// See [`require_filter`].
pub const fn require_transform<T: Transform>() {}
/// See [`require_filter`].
pub const fn require_classify<T: Classify>() {}

impl<T: Plugin> InitGuest for Adapter<T> {
    fn init(config: String) -> Result<(), String> {
        let plugin = load::<T>(&config)?;
        PLUGIN
            .with(|slot| slot.set(Box::new(plugin)))
            .map_err(|_| "init was called twice on one instance".to_string())
    }
}

impl<T: Filter> FilterGuest for Adapter<T> {
    fn filter(event: wit::Event) -> Result<bool, String> {
        with_plugin(|plugin: &T| plugin.filter(&event.into()))?
    }
}

impl<T: Transform> TransformGuest for Adapter<T> {
    fn transform(event: wit::Event) -> Result<wit::Transformed, String> {
        with_plugin(|plugin: &T| plugin.transform(&event.into()))?.map(Into::into)
    }
}

impl<T: Classify> ClassifyGuest for Adapter<T> {
    fn classify(event: wit::Event, attempt: wit::Attempt) -> wit::Verdict {
        let verdict = with_plugin(|plugin: &T| plugin.classify(&event.into(), &attempt.into()));
        verdict
            .unwrap_or_else(|e| uninitialised_classify(&e))
            .into()
    }
}

/// Runs `hook` on the plugin `init` built.
fn with_plugin<T: 'static, R>(hook: impl FnOnce(&T) -> R) -> Result<R, String> {
    PLUGIN.with(|slot| {
        let plugin = slot.get().and_then(|plugin| plugin.downcast_ref::<T>());
        plugin
            .map(hook)
            .ok_or_else(|| "the host called a hook before init".to_string())
    })
}

/// `classify` has no way to report an error, and [`Verdict::Default`] would
/// pass a host bug off as "no opinion": log it, then trap.
fn uninitialised_classify(error: &str) -> Verdict {
    log::error(error);
    panic!("{error}");
}
