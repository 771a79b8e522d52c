//! Switchyard: a durable webhook router.
//!
//! Data flows one way: [`ingest`] takes events over HTTP and commits them to the
//! [`store`] with one due delivery per subscribed webhook; the [`delivery`] lanes
//! take due deliveries from the store, [`signing`] them and sending them through
//! the [`ssrf`]-guarded client, and record each attempt back in the store. The
//! [`server`] starts and stops the parts in order; [`config`] says what they do.
//! Beside the flow, [`retention`] purges what is old, [`admin`] is the
//! operator's API, and [`telemetry`] exports a trace of each event's way through.

// The library logs through `tracing`; printing is for the binary, benches and tests.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod access;
pub mod admin;
pub mod api;
pub mod backoff;
pub mod config;
pub mod control;
pub mod delivery;
pub mod headers;
pub mod health;
pub mod ingest;
pub mod listener;
pub mod log_limit;
pub mod metrics;
pub mod model;
pub mod plugin;
pub mod replay;
pub mod retention;
pub mod secret;
pub mod server;
pub mod signing;
pub mod ssrf;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use server::Server;
