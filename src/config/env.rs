//! Where a config's `*_env` keys (`token_env`, `secret_env`, `headers_env`, ...)
//! are looked up: the process environment in the router, a map in tests.
//!
//! Behind a trait so that parsing a config depends on nothing but what it is
//! given: the same file and the same [`Env`] give the same
//! [`Config`](super::Config) or the same problems, whatever the process's
//! environment holds, and a test states the variables it means instead of
//! setting them for the whole process (which other tests would see).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// The environment variables a config may name.
pub trait Env {
    /// The value of `name`; `None` if it is not set (or not UTF-8).
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment: what the router and its CLI read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}
