//! The Switchyard plugin SDK: write a webhook plugin as a plain Rust type and
//! get a WebAssembly component that speaks the `switchyard:plugin` contract
//! (`wit/plugin.wit`), without touching the component ABI.
//!
//! A plugin implements [`Plugin`] (how to build it from its configuration)
//! and one or more hooks: [`Filter`], [`Transform`], [`Classify`]. One export
//! macro per crate turns it into a component: [`export_filter!`],
//! [`export_transform!`], [`export_classify!`], or [`export_plugin!`] for a
//! type with all three hooks. Build the crate as a `cdylib` for
//! `wasm32-wasip2`.
//!
//! ```
//! use switchyard_plugin_sdk::{Event, Filter, NoConfig, Plugin, export_filter};
//!
//! /// Keeps paid orders only.
//! struct PaidOnly;
//!
//! impl Plugin for PaidOnly {
//!     type Config = NoConfig;
//!
//!     fn init(_: NoConfig) -> Result<Self, String> {
//!         Ok(PaidOnly)
//!     }
//! }
//!
//! impl Filter for PaidOnly {
//!     fn filter(&self, event: &Event) -> Result<bool, String> {
//!         Ok(event.event_type == "order.paid")
//!     }
//! }
//!
//! export_filter!(PaidOnly);
//! ```
//!
//! The host runs `init` once on each new instance, which then serves many hook
//! calls, so the value [`Plugin::init`] returns serves them all; any call may be
//! the first of a new instance. Plugin logic compiles natively too: test it with
//! [`load`] and plain calls.

mod adapter;
mod bindings;
mod convert;
mod event;
mod hooks;
pub mod log;
mod plugin;
mod pointer;

pub use event::{Event, Header};
pub use hooks::{
    Attempt, Outcome, Replacement, Response, Transformed, TransportError, TransportErrorKind,
    Verdict,
};
pub use plugin::{Classify, Filter, NoConfig, Plugin, Transform, load};
pub use pointer::Pointer;

/// What the export macros expand to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::adapter::{Adapter, require_classify, require_filter, require_transform};
    pub use crate::bindings::classify::export_classify_hook;
    pub use crate::bindings::filter::export_filter_hook;
    pub use crate::bindings::init::export_init_hook;
    pub use crate::bindings::transform::export_transform_hook;
    pub use crate::bindings::{classify, filter, init, transform};
}

/// Exports a [`Filter`] as the component's `init` and `filter`
/// (world `filter-plugin`). Use once, in the plugin's crate.
#[macro_export]
macro_rules! export_filter {
    ($plugin:ty) => {
        const _: () = {
            $crate::__private::require_filter::<$plugin>();
            type SwitchyardAdapter = $crate::__private::Adapter<$plugin>;
            $crate::__private::export_init_hook!(SwitchyardAdapter with_types_in $crate::__private::init);
            $crate::__private::export_filter_hook!(SwitchyardAdapter with_types_in $crate::__private::filter);
        };
    };
}

/// Exports a [`Transform`] as the component's `init` and `transform`
/// (world `transform-plugin`). Use once, in the plugin's crate.
#[macro_export]
macro_rules! export_transform {
    ($plugin:ty) => {
        const _: () = {
            $crate::__private::require_transform::<$plugin>();
            type SwitchyardAdapter = $crate::__private::Adapter<$plugin>;
            $crate::__private::export_init_hook!(SwitchyardAdapter with_types_in $crate::__private::init);
            $crate::__private::export_transform_hook!(SwitchyardAdapter with_types_in $crate::__private::transform);
        };
    };
}

/// Exports a [`Classify`] as the component's `init` and `classify`
/// (world `classify-plugin`). Use once, in the plugin's crate.
#[macro_export]
macro_rules! export_classify {
    ($plugin:ty) => {
        const _: () = {
            $crate::__private::require_classify::<$plugin>();
            type SwitchyardAdapter = $crate::__private::Adapter<$plugin>;
            $crate::__private::export_init_hook!(SwitchyardAdapter with_types_in $crate::__private::init);
            $crate::__private::export_classify_hook!(SwitchyardAdapter with_types_in $crate::__private::classify);
        };
    };
}

/// Exports a type implementing all of [`Filter`], [`Transform`] and
/// [`Classify`] as the component's `init` and all three hooks (world
/// `plugin`). Use once, in the plugin's crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            $crate::__private::require_filter::<$plugin>();
            $crate::__private::require_transform::<$plugin>();
            $crate::__private::require_classify::<$plugin>();
            type SwitchyardAdapter = $crate::__private::Adapter<$plugin>;
            $crate::__private::export_init_hook!(SwitchyardAdapter with_types_in $crate::__private::init);
            $crate::__private::export_filter_hook!(SwitchyardAdapter with_types_in $crate::__private::filter);
            $crate::__private::export_transform_hook!(SwitchyardAdapter with_types_in $crate::__private::transform);
            $crate::__private::export_classify_hook!(SwitchyardAdapter with_types_in $crate::__private::classify);
        };
    };
}
