//! A webhook's plugins, in the order the config lists them, and what happens when
//! one of them fails.
//!
//! Before a request, each plugin in turn filters and then transforms the event: a
//! filter that says no, or a transform that drops, ends the chain and the delivery
//! is `filtered`; each transform sees the previous one's output. After the request,
//! classifiers are asked in turn until one says something other than `default`.
//!
//! A failed call (trap, overrun, error, invalid output) is handled by the webhook's
//! [`OnPluginError`] policy. Every call leaves a [`PluginNote`] for the attempt log.
//!
//! The chain's calls are synchronous; [`Chain::offload`] runs them on the
//! runtime's plugin threads, in this webhook's turn (see `pool`).

use std::sync::Arc;

use serde::Deserialize;

use super::pool::Pool;
use super::{
    Attempt, CallError, CallObserver, Event, LoadError, Plugin, PluginSpec, Runtime, Transformed,
    Verdict,
};
use crate::model::PluginNote;

/// What a webhook does with a delivery when one of its plugins fails.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnPluginError {
    /// Count it as a failed attempt and retry on schedule: nothing is lost.
    #[default]
    Retry,
    /// Dead-letter the delivery at once.
    Dead,
    /// Carry on as if the plugin were not there.
    Skip,
}

impl OnPluginError {
    /// Its name as the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            OnPluginError::Retry => "retry",
            OnPluginError::Dead => "dead",
            OnPluginError::Skip => "skip",
        }
    }
}

/// What to do with an event, once the chain has seen it.
#[derive(Debug)]
pub enum BeforeSend {
    Deliver(Event),
    Filtered { plugin: String, reason: String },
    Failed(PluginFailure),
}

/// How the classifiers judged an attempt.
#[derive(Debug)]
pub enum Classified {
    /// A classifier's verdict (never `default`).
    Verdict(Verdict),
    /// Every classifier said `default`, or there is none: the built-in rule decides.
    Default,
    Failed(PluginFailure),
}

/// A plugin call that failed, under a policy other than `skip`.
#[derive(Debug, Clone)]
pub struct PluginFailure {
    pub plugin: String,
    pub error: CallError,
    /// The `dead` policy: no retry.
    pub permanent: bool,
}

/// A webhook's loaded plugins.
pub struct Chain {
    webhook: Arc<str>,
    plugins: Vec<Plugin>,
    on_error: OnPluginError,
    pool: Arc<Pool>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("webhook", &self.webhook)
            .field("plugins", &self.plugins)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Loads every plugin in `specs` for `webhook`; the first that fails is
    /// returned with its index.
    pub fn load(
        runtime: &Runtime,
        webhook: &str,
        specs: &[PluginSpec],
        on_error: OnPluginError,
    ) -> Result<Self, (usize, LoadError)> {
        let plugins = (specs.iter().enumerate())
            .map(|(i, spec)| Plugin::load_in(runtime, webhook, spec).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            webhook: webhook.into(),
            plugins,
            on_error,
            pool: runtime.pool(),
            observer: runtime.observer(),
        })
    }

    /// Runs `calls` (this chain's hooks) on the plugin threads, in this webhook's
    /// turn, and returns what they return.
    pub async fn offload<R: Send + 'static>(
        &self,
        calls: impl FnOnce() -> R + Send + 'static,
    ) -> R {
        self.offload_as(&self.webhook, calls).await
    }

    /// [`Chain::offload`], in the turn of `turn`: for calls made on behalf of
    /// something else than this webhook's deliveries (ingest screening an event
    /// for several webhooks at once).
    pub async fn offload_as<R: Send + 'static>(
        &self,
        turn: &Arc<str>,
        calls: impl FnOnce() -> R + Send + 'static,
    ) -> R {
        // The plugin threads log in the caller's span (the attempt's), not outside any.
        let span = tracing::Span::current();
        let calls = move || span.in_scope(calls);
        (self.pool).run(turn, self.observer.clone(), calls).await
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    pub fn has_classifiers(&self) -> bool {
        self.plugins.iter().any(|p| p.hooks().classify)
    }

    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// Whether the chain begins with a filter: one that sees the event as the
    /// sender sent it, and so can run as it arrives ([`Chain::turned_down`]).
    pub fn screens(&self) -> bool {
        self.plugins.first().is_some_and(|p| p.hooks().filter)
    }

    /// Runs the filters that come before any transform over `event`; the notes of
    /// the calls made if one of them dropped it. Synchronous: run it on the
    /// plugin threads ([`Chain::offload_as`]).
    ///
    /// Only ever decides "filtered". An event these filters keep, or one a call
    /// failed on, is the lane's, which runs the whole chain, these filters
    /// included, and applies the webhook's failure policy. Plugins are
    /// deterministic (see `determinism`), so what a filter kept here it keeps
    /// again there, under the same config.
    pub fn turned_down(&self, event: &Event) -> Option<Vec<PluginNote>> {
        let mut notes = Vec::new();
        for plugin in &self.plugins {
            let hooks = plugin.hooks();
            if hooks.filter {
                match plugin.filter(event)? {
                    Ok(kept) if kept.value => notes.push(note(plugin, "filter", "kept")),
                    Ok(_) => {
                        notes.push(note(plugin, "filter", "dropped"));
                        return Some(notes);
                    }
                    Err(error) => {
                        tracing::debug!(webhook = &*self.webhook, plugin = plugin.name(), %error,
                            "a filter failed at ingest; the lane runs it again");
                        return None;
                    }
                }
            }
            if hooks.transform {
                return None;
            }
        }
        None
    }

    /// Runs the filters and transforms over `event`, in order.
    pub fn before_send(&self, mut event: Event, notes: &mut Vec<PluginNote>) -> BeforeSend {
        for plugin in &self.plugins {
            if let Some(result) = plugin.filter(&event) {
                match result {
                    Ok(kept) if kept.value => notes.push(note(plugin, "filter", "kept")),
                    Ok(_) => {
                        notes.push(note(plugin, "filter", "dropped"));
                        let reason = format!("{} dropped it", plugin.name());
                        return BeforeSend::Filtered {
                            plugin: plugin.name().into(),
                            reason,
                        };
                    }
                    Err(error) => {
                        if let Some(failure) = self.fail(plugin, "filter", error, notes) {
                            return BeforeSend::Failed(failure);
                        }
                    }
                }
            }
            if let Some(result) = plugin.transform(&event) {
                match result.map(|called| called.value) {
                    Ok(Transformed::Unchanged) => {
                        notes.push(note(plugin, "transform", "unchanged"))
                    }
                    Ok(Transformed::Replaced(replacement)) => {
                        notes.push(note(plugin, "transform", "replaced"));
                        event.body = replacement.body;
                        // A new body has its own type: JSON, unless this replacement says otherwise.
                        (event.headers).retain(|(name, _)| !super::output::is_content_type(name));
                        if let Some(event_type) = replacement.event_type {
                            event.event_type = event_type;
                        }
                        event.headers.extend(replacement.headers);
                    }
                    Ok(Transformed::Dropped(reason)) => {
                        notes.push(note(plugin, "transform", &format!("dropped: {reason}")));
                        return BeforeSend::Filtered {
                            plugin: plugin.name().into(),
                            reason,
                        };
                    }
                    Err(error) => {
                        if let Some(failure) = self.fail(plugin, "transform", error, notes) {
                            return BeforeSend::Failed(failure);
                        }
                    }
                }
            }
        }
        BeforeSend::Deliver(event)
    }

    /// Asks the classifiers, in order, until one has an opinion.
    pub fn classify(
        &self,
        event: &Event,
        attempt: &Attempt,
        notes: &mut Vec<PluginNote>,
    ) -> Classified {
        for plugin in &self.plugins {
            match plugin
                .classify(event, attempt)
                .map(|r| r.map(|called| called.value))
            {
                None => {}
                Some(Ok(Verdict::Default)) => notes.push(note(plugin, "classify", "default")),
                Some(Ok(verdict)) => {
                    notes.push(note(plugin, "classify", &describe(&verdict)));
                    return Classified::Verdict(verdict);
                }
                Some(Err(error)) => {
                    if let Some(failure) = self.fail(plugin, "classify", error, notes) {
                        return Classified::Failed(failure);
                    }
                }
            }
        }
        Classified::Default
    }

    /// Notes and logs a failed call; `None` when the policy is to carry on.
    fn fail(
        &self,
        plugin: &Plugin,
        hook: &str,
        error: CallError,
        notes: &mut Vec<PluginNote>,
    ) -> Option<PluginFailure> {
        tracing::warn!(
            webhook = &*self.webhook,
            plugin = plugin.name(),
            hook,
            kind = error.kind(),
            %error,
            policy = self.on_error.name(),
            "plugin call failed"
        );
        notes.push(note(plugin, hook, &format!("error: {error}")));
        match self.on_error {
            OnPluginError::Skip => None,
            policy => Some(PluginFailure {
                plugin: plugin.name().into(),
                error,
                permanent: policy == OnPluginError::Dead,
            }),
        }
    }
}

fn note(plugin: &Plugin, hook: &str, result: &str) -> PluginNote {
    PluginNote {
        plugin: plugin.name().into(),
        hook: hook.into(),
        result: result.into(),
    }
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Success => "success".into(),
        Verdict::Retry(Some(ms)) => format!("retry in {ms} ms"),
        Verdict::Retry(None) => "retry".into(),
        Verdict::Permanent(reason) => format!("permanent: {reason}"),
        Verdict::Default => "default".into(),
    }
}
