//! `plugins`: delivery throughput when every webhook runs a filter and a
//! transform, and the checks that each ran.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::checks::{check_delivered, check_settled};
use super::delivered::Delivered;
use super::{Ceilings, connections, events, finish, load, router};
use crate::bench::Settings;
use crate::bench::config::{Plugin, Secret, Webhook};
use crate::bench::load::Pace;
use crate::bench::receiver::{Behaviour, Checks, Receiver};
use crate::bench::report::ScenarioReport;

/// Webhooks in the `plugins` scenario; each gets one event type in this many.
const PLUGIN_WEBHOOKS: u64 = 10;

/// `plugins`: ten webhooks, each with an event-type filter and a redact
/// transform, each type one event in ten.
pub(super) async fn plugins(
    settings: &Settings,
    ceilings: &Ceilings,
) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("plugins");
    let plugins = plugins_dir(settings)?;
    let secret = Secret::random();
    let checks = Checks {
        routed_by_type: true,
        redacted: true,
        ..Checks::default()
    };
    let receiver = Receiver::start(Behaviour::Accept, checks, &secret.key)?;
    let ids: Vec<String> = (0..PLUGIN_WEBHOOKS).map(|n| format!("w{n}")).collect();
    let webhooks: Vec<Webhook> = (ids.iter().enumerate())
        .map(|(n, id)| Webhook {
            plugins: vec![
                Plugin {
                    path: plugins.join("event_filter.wasm"),
                    config: format!(r#"{{ allow = ["type.{n}"] }}"#),
                },
                Plugin {
                    path: plugins.join("redact.wasm"),
                    config: r#"{ mask = ["/data/email"] }"#.to_owned(),
                },
            ],
            ..Webhook::new(id, format!("http://{}/{id}", receiver.addr()))
        })
        .collect();
    let (_dir, router) = router(settings, "plugins", &secret, &webhooks).await?;
    let events = events("closed", 1, Some(PLUGIN_WEBHOOKS));
    let closed = load(settings, router.ingest, events, Pace::Closed);
    let closed = Delivered::measure(closed, &router, &receiver, settings).await?;

    report.check_load(&connections(settings), &closed.stats);
    let accepted = closed.stats.accepted;
    check_delivered(&mut report, &receiver, accepted);
    let counts = receiver.counts();
    report.check_eq(
        "deliveries to the wrong webhook",
        counts.misrouted,
        "expected",
        0,
    );
    report.check_eq("deliveries not redacted", counts.unredacted, "expected", 0);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let filtered = accepted * (PLUGIN_WEBHOOKS - 1);
    // A plugin call over its CPU budget (10 ms of wall time, which a loaded
    // machine can take) fails its attempt, which is retried: counted, not a fault.
    check_settled(&mut report, &router, &ids, accepted, None).await?;
    let errors = router.counter("switchyard_plugin_errors_total", "").await?;
    report.counts.insert("plugin_errors", errors);
    let counted = router
        .counter("switchyard_attempts_total", "outcome=\"filtered\"")
        .await?;
    report.counts.insert("filtered", counted);
    report.check_eq(
        "deliveries filtered",
        counted,
        &format!("accepted × {}", PLUGIN_WEBHOOKS - 1),
        filtered,
    );
    report
        .phases
        .push(closed.phase(connections(settings), ceilings.single));
    finish(report, router).await
}

/// Where `event_filter.wasm` and `redact.wasm` are: `--plugins-dir`, or the
/// `plugins/wasm32-wasip2/release` that `build.rs` fills in the target directory
/// this binary was built into.
fn plugins_dir(settings: &Settings) -> anyhow::Result<PathBuf> {
    let wanted = ["event_filter.wasm", "redact.wasm"];
    let holds = |dir: &std::path::Path| wanted.iter().all(|f| dir.join(f).is_file());
    if let Some(dir) = &settings.plugins_dir {
        if holds(dir) {
            return Ok(dir.clone());
        }
        bail!(
            "--plugins-dir {} does not hold {}",
            dir.display(),
            wanted.join(" and ")
        );
    }
    let built = (settings.exe.ancestors())
        .map(|dir| dir.join("plugins/wasm32-wasip2/release"))
        .find(|dir| holds(dir));
    built.with_context(|| {
        format!(
            "cannot find {} in target/plugins/wasm32-wasip2/release beside {}: build with \
             cargo (build.rs builds the plugins, given the wasm32-wasip2 target), or pass \
             --plugins-dir",
            wanted.join(" and "),
            settings.exe.display()
        )
    })
}
