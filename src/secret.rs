//! A secret string: a token, a signing secret, a proxy URL with its password.
//!
//! A module of its own, a leaf that imports nothing of the crate, because the
//! config (which reads secrets), signing (which keys HMACs with them) and the
//! admin API (which compares tokens) all hold one, and none of them should have
//! to import another for it.

use std::fmt;

/// A secret string from the config or the environment. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
