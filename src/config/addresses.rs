//! The half of the load-time SSRF check that needs DNS: whether a webhook's host
//! name resolves, now, to an internal address.
//!
//! Parsing refuses IP-literal URLs itself, but does no DNS: a lookup can block
//! for seconds, gives a different answer from one minute to the next, and has
//! no place in a function that should be pure and run anywhere (a reload runs on
//! the router's async workers). So resolution is a step of its own, async, that
//! whoever is about to act on a config takes: `Server::start`, a reload, and
//! `switchyard check`. Its problems read as parsing's would have, key, message
//! and place in the file, for which a parsed [`Config`] keeps a [`Source`].
//!
//! A host that does not resolve now is let through; the connect-time check
//! (`ssrf`) guards every address the client dials, whatever passed here.

use std::fmt;
use std::sync::Arc;

use super::{Config, ConfigError, Location, Problem};
use crate::ssrf::{self, Blocked};

/// What the check needs of the file a config was parsed from, to point into it
/// as parsing's own problems do.
#[derive(Clone, Default)]
pub(super) struct Source {
    /// The file's text with its secrets masked: what a report may show of it.
    shown: Option<Arc<str>>,
    /// Where each webhook's `url` is in the file, by the webhook's index.
    urls: Vec<Option<Location>>,
}

impl Source {
    pub(super) fn new(shown: String, urls: Vec<Option<Location>>) -> Self {
        Self {
            shown: Some(shown.into()),
            urls,
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

/// What a URL refused by the file's own guard (`server.allow_private_networks`
/// off) is told, by parsing for an IP literal and here for a name.
pub(super) fn refused_by_file(blocked: &Blocked) -> String {
    format!("{blocked} (set server.allow_private_networks = true to allow it)")
}

impl Config {
    /// Refuses every webhook URL whose host name resolves to an internal
    /// address, unless the file allows those (`server.allow_private_networks`):
    /// the check to make before starting on a config. See the module docs.
    pub async fn check_addresses(&self) -> Result<(), ConfigError> {
        self.check_addresses_under(self.server.allow_private_networks)
            .await
    }

    /// As [`Config::check_addresses`], under the guard of a running router that
    /// allows private networks or not (`running_allows_private`), for a reload:
    /// `server.allow_private_networks` takes effect only at a restart, so a file
    /// that turns it on while the running router has it off has every URL
    /// checked, IP literals too, under the guard in force.
    pub async fn check_addresses_under(
        &self,
        running_allows_private: bool,
    ) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if !self.server.allow_private_networks {
            // IP literals were refused by parsing, with this same message.
            for (i, webhook) in self.webhooks.iter().enumerate() {
                if let Err(e) = ssrf::check_resolved(&webhook.url).await {
                    problems.push(Problem {
                        key: format!("webhooks[{i}].url"),
                        message: refused_by_file(&e),
                        at: self.source.urls.get(i).cloned().flatten(),
                    });
                }
            }
            return self.refused(problems, self.source.shown.as_deref());
        }
        if running_allows_private {
            return Ok(());
        }
        for (i, webhook) in self.webhooks.iter().enumerate() {
            let checked = match ssrf::check_literal(&webhook.url) {
                Ok(()) => ssrf::check_resolved(&webhook.url).await,
                refused => refused,
            };
            if let Err(e) = checked {
                problems.push(Problem {
                    key: format!("webhooks[{i}].url"),
                    message: format!(
                        "{e}, and the running router does not allow those (server.allow_private_networks takes effect only at a restart)"
                    ),
                    at: None,
                });
            }
        }
        // Not about what the file says but about the router it would run in:
        // nothing of the file to show.
        self.refused(problems, None)
    }

    fn refused(&self, problems: Vec<Problem>, shown: Option<&str>) -> Result<(), ConfigError> {
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            path: self.path.clone(),
            problems,
            shown: shown.map(str::to_owned),
        })
    }
}
