//! `switchyard reload`: the router re-reads its config file and applies it, as
//! SIGHUP does, and the command prints what that changed.
//!
//! The answer names webhooks `started`, `updated` (kept, and handed the settings
//! read again), `stopped` and `held` (a stopped one's pending deliveries), and
//! settings that `need_restart`; each kind with any is one line, so a script can
//! `grep '^need restart:'`.

use serde_json::Value;

use super::client::Api;
use super::exit::Failure;
use super::output::{self, text};

pub async fn reload(api: &Api, json: bool) -> Result<(), Failure> {
    let changes = api.post("/v1/reload", None).await?;
    output::one(json, &changes, print);
    Ok(())
}

/// `started: a, b` and so on, one line per kind of change; `nothing changed` if
/// there is none.
fn print(changes: &Value) {
    let held: Vec<Value> = (changes["held"].as_array().into_iter().flatten())
        .map(|h| {
            let (webhook, pending) = (text(&h["webhook"]), text(&h["pending"]));
            Value::String(format!("{webhook} ({pending} pending)"))
        })
        .collect();
    let kinds = [
        ("started", &changes["started"]),
        ("updated", &changes["updated"]),
        ("stopped", &changes["stopped"]),
        ("held", &Value::Array(held)),
        ("need restart", &changes["need_restart"]),
    ];
    let mut changed = false;
    for (kind, items) in kinds {
        if items.as_array().is_some_and(|a| !a.is_empty()) {
            say!("{kind}: {}", text(items));
            changed = true;
        }
    }
    if !changed {
        say!("nothing changed");
    }
}
