//! Host bindings generated from `wit/` by wasmtime's `bindgen!`.
//!
//! One `plugin` world covers every hook; a component may export any subset of
//! them, and [`super::runtime`] finds which from its exports before instantiating.

wasmtime::component::bindgen!({
    path: "wit",
    world: "plugin",
});

pub use exports::switchyard::plugin::{classify, filter, init, transform};
pub use switchyard::plugin::{log, types};
