//! `switchyard reload`: the router re-reads its config file and applies it, as
//! SIGHUP does, and the command prints what that changed.
//!
//! The answer names webhooks `started`, `updated` (kept, and handed the settings
//! read again), `stopped` and `held` (a stopped one's pending deliveries), and
//! settings that `need_restart`; each kind with any is one line, so a script can
//! `grep '^need restart:'`.

use switchyard::admin::ReloadAnswer;

use super::client::Api;
use super::exit::Failure;
use super::output::{self, cell};

pub async fn reload(api: &Api, json: bool) -> Result<(), Failure> {
    let changes: ReloadAnswer = api.post("/v1/reload", None).await?;
    output::one(json, &changes, print);
    Ok(())
}

/// `started: a, b` and so on, one line per kind of change; `nothing changed` if
/// there is none.
fn print(changes: &ReloadAnswer) {
    let held: Vec<String> = (changes.held.iter())
        .map(|h| format!("{} ({} pending)", cell(&h.webhook), h.pending))
        .collect();
    let kinds = [
        ("started", cell_if_any(&changes.started)),
        ("updated", cell_if_any(&changes.updated)),
        ("stopped", cell_if_any(&changes.stopped)),
        ("held", cell_if_any(&held)),
        ("need restart", cell_if_any(&changes.need_restart)),
    ];
    let mut changed = false;
    for (kind, items) in kinds {
        if let Some(items) = items {
            say!("{kind}: {items}");
            changed = true;
        }
    }
    if !changed {
        say!("nothing changed");
    }
}

/// The items joined as a cell shows them, if there are any.
fn cell_if_any<T: serde::Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| cell(&items))
}
