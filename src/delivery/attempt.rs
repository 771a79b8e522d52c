//! One attempt: load the delivery, run the webhook's plugins over the event, sign
//! it afresh, send it, judge the answer, and say where the delivery goes next.
//! Nothing here writes; the lane records the [`Outcome`] through the store.

use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Request};
use http_body_util::Full;
use tracing::Instrument;

use super::Context;
use super::client::{Response, TransportError};
use super::retry::{self, Verdict};
use std::sync::Arc;

use crate::model::{
    AttemptError, AttemptRecord, DeliveryRecord, DeliveryStatus, Due, ErrorKind, EventRecord,
    GONE_REASON, Next, Outcome, PluginNote, RESPONSE_EXCERPT_BYTES,
};
use crate::plugin::{self, BeforeSend, Chain, Classified, PluginFailure};
use crate::signing::Message;
use crate::store::Loaded;
use crate::telemetry::{AttemptEnd, AttemptFacts, AttemptTrace};

static JSON: HeaderValue = HeaderValue::from_static("application/json");
static AGENT: HeaderValue =
    HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION")));

/// What became of a due entry.
pub(super) enum Attempted {
    Made(Arc<Outcome>),
    /// The entry points at no pending delivery (it finished, or its record is gone).
    Stale,
}

pub(super) async fn make(lane: &Context, due: Due, loaded: Option<Loaded>) -> Attempted {
    let Some(Loaded {
        delivery,
        event,
        trace,
    }) = loaded
    else {
        return Attempted::Stale;
    };
    if delivery.status != DeliveryStatus::Pending {
        return Attempted::Stale;
    }
    let span = tracing::info_span!(
        "attempt",
        delivery = %due.delivery,
        webhook = %lane.webhook.id,
        event = %event.id,
        attempt = delivery.attempts.saturating_add(1),
    );
    let facts = AttemptFacts {
        webhook: &lane.webhook.id,
        delivery: &due.delivery,
        event: &event.id,
        number: delivery.attempts.saturating_add(1),
        replay: delivery.replays,
        url: &lane.webhook.url,
    };
    let trace = lane.telemetry.attempt(trace.as_ref(), &facts);
    let outcome = (attempt(lane, due, &delivery, event, &trace))
        .instrument(span)
        .await;
    let error = outcome.attempt.error.as_ref();
    trace.end(&AttemptEnd {
        status_code: outcome.attempt.status_code,
        error: error.map(|e| (&e.kind as &dyn std::fmt::Debug, e.message.as_str())),
        next: outcome.next.name(),
    });
    Attempted::Made(Arc::new(outcome))
}

/// An attempt under way: what its record needs, gathered as it goes.
struct Attempt<'a> {
    lane: &'a Context,
    due: Due,
    number: u32,
    replay: u32,
    request_headers: Vec<(String, String)>,
    at_ms: u64,
    started: Instant,
    event_id: String,
    event_type: String,
    notes: Vec<PluginNote>,
}

async fn attempt(
    lane: &Context,
    due: Due,
    delivery: &DeliveryRecord,
    event: EventRecord,
    trace: &AttemptTrace,
) -> Outcome {
    let mut attempt = Attempt {
        lane,
        due,
        number: delivery.attempts.saturating_add(1),
        replay: delivery.replays,
        request_headers: Vec::new(),
        at_ms: lane.clock.now_ms(),
        started: Instant::now(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        notes: Vec::new(),
    };
    let event = plugin::Event {
        id: event.id,
        event_type: event.event_type,
        webhook_id: lane.webhook.id.to_string(),
        sender: event.sender,
        received_at_ms: event.received_at_ms,
        headers: Vec::new(),
        body: event.payload,
    };
    let plugins = (!lane.chain.is_empty()).then(|| trace.plugins("before_send"));
    let (prepared, notes) = before_send(&lane.chain, event).await;
    if let Some(span) = plugins {
        let failure = match &prepared {
            BeforeSend::Failed(failure) => Some(failure_message(failure)),
            _ => None,
        };
        span.end(|| describe(&notes), failure.as_deref());
    }
    attempt.notes = notes;
    let mut event = match prepared {
        BeforeSend::Deliver(event) => event,
        BeforeSend::Filtered { plugin, reason } => {
            // At volume, filtering is the plugin's job going as planned: DEBUG, and counted
            // in switchyard_attempts_total{outcome="filtered"}.
            tracing::debug!(plugin, reason, "filtered: not delivered");
            return attempt.finish(None, None, Next::Filtered);
        }
        BeforeSend::Failed(failure) => return attempt.plugin_failed(None, &failure),
    };
    // Classifiers see the event as sent; without any, the body moves into the request uncopied.
    let body = if lane.chain.has_classifiers() {
        Bytes::copy_from_slice(&event.body)
    } else {
        Bytes::from(std::mem::take(&mut event.body))
    };
    let (result, verdict) = match request(lane, due, &event, body, attempt.at_ms, trace) {
        Ok(request) => {
            attempt.request_headers = logged_headers(&request, &lane.webhook.headers);
            let result = lane.client.send(request, lane.webhook.timeout).await;
            match attempt.judge(event, &result, trace).await {
                Ok(verdict) => (result, verdict),
                Err(failure) => return attempt.plugin_failed(Some(&result), &failure),
            }
        }
        // Retrying cannot make an unsendable request sendable.
        Err(reason) => {
            let error = TransportError {
                kind: ErrorKind::Other,
                message: reason.clone(),
            };
            (Err(error), Verdict::Permanent { reason })
        }
    };
    let next = retry::next(
        &verdict,
        attempt.number,
        &lane.webhook.retry_delays,
        lane.webhook.on_gone,
        lane.clock.now_ms(),
    );
    let error = attempt_error(&result, &verdict);
    attempt.finish(Some(&result), error, next)
}

impl Attempt<'_> {
    /// The classifiers' verdict, or the built-in rule's.
    async fn judge(
        &mut self,
        event: plugin::Event,
        result: &Result<Response, TransportError>,
        trace: &AttemptTrace,
    ) -> Result<Verdict, PluginFailure> {
        let chain = self.lane.chain.clone();
        let local = matches!(result, Err(e) if e.kind == ErrorKind::Local);
        // A request that never left says nothing a classifier could judge.
        if !chain.has_classifiers() || local {
            return Ok(retry::classify(result));
        }
        let attempt = plugin::Attempt {
            number: self.number,
            max_attempts: self.lane.webhook.max_attempts(),
            duration_ms: elapsed_ms(self.started),
            outcome: plugin_outcome(result),
        };
        let mut notes = std::mem::take(&mut self.notes);
        let (before, span) = (notes.len(), trace.plugins("classify"));
        let (classified, notes) = (self.lane.chain)
            .offload(move || {
                let classified = chain.classify(&event, &attempt, &mut notes);
                (classified, notes)
            })
            .await;
        let failure = match &classified {
            Classified::Failed(failure) => Some(failure_message(failure)),
            _ => None,
        };
        span.end(|| describe(&notes[before..]), failure.as_deref());
        self.notes = notes;
        Ok(match classified {
            Classified::Verdict(plugin::Verdict::Success) => Verdict::Success,
            Classified::Verdict(plugin::Verdict::Retry(Some(ms))) => {
                Verdict::RetryIn(std::time::Duration::from_millis(ms))
            }
            Classified::Verdict(plugin::Verdict::Retry(None)) => Verdict::Retry { after: None },
            Classified::Verdict(plugin::Verdict::Permanent(reason)) => {
                Verdict::Permanent { reason }
            }
            Classified::Verdict(plugin::Verdict::Default) | Classified::Default => {
                retry::classify(result)
            }
            Classified::Failed(failure) => return Err(failure),
        })
    }

    /// A plugin failed under the `retry` or `dead` policy: a failed attempt.
    fn plugin_failed(
        self,
        result: Option<&Result<Response, TransportError>>,
        failure: &PluginFailure,
    ) -> Outcome {
        let message = failure_message(failure);
        let verdict = if failure.permanent {
            Verdict::Permanent {
                reason: message.clone(),
            }
        } else {
            Verdict::Retry { after: None }
        };
        let next = retry::next(
            &verdict,
            self.number,
            &self.lane.webhook.retry_delays,
            self.lane.webhook.on_gone,
            self.lane.clock.now_ms(),
        );
        let error = AttemptError {
            kind: ErrorKind::Plugin,
            message,
        };
        self.finish(result, Some(error), next)
    }

    fn finish(
        self,
        result: Option<&Result<Response, TransportError>>,
        error: Option<AttemptError>,
        next: Next,
    ) -> Outcome {
        let response = result.and_then(|r| r.as_ref().ok());
        let attempt = AttemptRecord {
            delivery: self.due.delivery,
            webhook: self.lane.webhook.id.to_string(),
            event_id: self.event_id,
            event_type: self.event_type,
            number: self.number,
            replay: self.replay,
            url: self.lane.webhook.url.to_string(),
            request_headers: self.request_headers,
            status_code: response.map(|r| r.status.as_u16()),
            response_headers: response.map(header_pairs).unwrap_or_default(),
            response_body: response
                .map(|r| r.body[..r.body.len().min(RESPONSE_EXCERPT_BYTES)].to_vec())
                .unwrap_or_default(),
            error,
            duration_ms: elapsed_ms(self.started),
            at_ms: self.at_ms,
            plugins: self.notes,
        };
        log(&attempt, next);
        Outcome {
            delivery: self.due.delivery,
            webhook: self.lane.webhook.id.clone(),
            dispatched_due_ms: self.due.at_ms,
            attempt,
            next,
            disable_after: self.lane.webhook.disable_after,
        }
    }
}

fn failure_message(failure: &PluginFailure) -> String {
    format!("plugin {}: {}", failure.plugin, failure.error)
}

/// What each plugin said, for a span: `redact transform: replaced`.
fn describe(notes: &[PluginNote]) -> Vec<String> {
    (notes.iter())
        .map(|n| format!("{} {}: {}", n.plugin, n.hook, n.result))
        .collect()
}

/// Runs the chain's filters and transforms over `event`. An empty chain costs nothing.
async fn before_send(chain: &Arc<Chain>, event: plugin::Event) -> (BeforeSend, Vec<PluginNote>) {
    if chain.is_empty() {
        return (BeforeSend::Deliver(event), Vec::new());
    }
    // Plugin calls are synchronous and may use their whole CPU budget, which would
    // stall every task on an async worker: they run on the plugin threads. (A panic
    // there is a bug in the host, resumed here; the lane logs it and the delivery
    // stays pending.)
    let calls = chain.clone();
    chain
        .offload(move || {
            let mut notes = Vec::new();
            let prepared = calls.before_send(event, &mut notes);
            (prepared, notes)
        })
        .await
}

/// The signed request for one attempt, or why it cannot be sent.
fn request(
    lane: &Context,
    due: Due,
    event: &plugin::Event,
    body: Bytes,
    at_ms: u64,
    trace: &AttemptTrace,
) -> Result<Request<Full<Bytes>>, String> {
    let delivery_id = due.delivery.to_string();
    let message = Message {
        id: &delivery_id,
        event_type: &event.event_type,
        body: &body,
        now_ms: at_ms,
    };
    let signed = (lane.webhook.signer.sign(&message)).map_err(|e| e.to_string())?;
    let mut request = Request::post(lane.webhook.url.clone())
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.extend(lane.webhook.headers.clone());
    // Plugins' headers were checked when they returned them: none is reserved, and
    // a content type among them is a transform's declared type for its body.
    for (name, value) in &event.headers {
        let name = HeaderName::try_from(name.as_str()).map_err(|e| e.to_string())?;
        let value = HeaderValue::try_from(value.as_str()).map_err(|e| e.to_string())?;
        headers.append(name, value);
    }
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, JSON.clone());
    }
    headers.insert(USER_AGENT, AGENT.clone());
    trace.inject(headers);
    headers.extend(signed);
    Ok(request)
}

fn plugin_outcome(result: &Result<Response, TransportError>) -> plugin::Outcome {
    match result {
        Ok(response) => plugin::Outcome::Response(plugin::Response {
            status: response.status.as_u16(),
            headers: header_pairs(response),
            body: response.body.to_vec(),
            truncated: response.truncated,
        }),
        Err(error) => plugin::Outcome::TransportError(plugin::TransportError {
            kind: match error.kind {
                ErrorKind::Dns => plugin::TransportErrorKind::Dns,
                ErrorKind::Connect => plugin::TransportErrorKind::Connect,
                ErrorKind::Tls => plugin::TransportErrorKind::Tls,
                ErrorKind::Timeout => plugin::TransportErrorKind::Timeout,
                ErrorKind::Reset => plugin::TransportErrorKind::Reset,
                ErrorKind::Blocked
                | ErrorKind::Status
                | ErrorKind::Plugin
                | ErrorKind::Other
                | ErrorKind::Local => plugin::TransportErrorKind::Other,
            },
            message: error.message.clone(),
        }),
    }
}

/// A request's headers as the attempt log keeps them: no signatures, and the
/// webhook's static headers (`statics`) with their values redacted.
fn logged_headers(
    request: &Request<Full<Bytes>>,
    statics: &http::HeaderMap,
) -> Vec<(String, String)> {
    (request.headers().iter())
        .filter(|(name, _)| !name.as_str().contains("signature"))
        .map(|(name, value)| {
            let value = if statics.contains_key(name) {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.to_string(), value)
        })
        .collect()
}

fn header_pairs(response: &Response) -> Vec<(String, String)> {
    (response.headers.iter())
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.to_string(), value)
        })
        .collect()
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn attempt_error(
    result: &Result<Response, TransportError>,
    verdict: &Verdict,
) -> Option<AttemptError> {
    match (result, verdict) {
        (_, Verdict::Success) => None,
        (Err(e), _) => Some(AttemptError {
            kind: e.kind,
            message: e.message.clone(),
        }),
        (Ok(response), Verdict::Permanent { reason }) => Some(AttemptError {
            kind: ErrorKind::Status,
            message: format!("HTTP {}: {reason}", response.status.as_u16()),
        }),
        (Ok(_), Verdict::Gone) => Some(AttemptError {
            kind: ErrorKind::Status,
            message: format!("HTTP {GONE_REASON}"),
        }),
        (Ok(response), Verdict::Retry { .. } | Verdict::RetryIn(_) | Verdict::Local) => {
            Some(AttemptError {
                kind: ErrorKind::Status,
                message: format!("HTTP {}", response.status),
            })
        }
    }
}

fn log(attempt: &AttemptRecord, next: Next) {
    let status = attempt.status_code;
    let error = attempt.error.as_ref().map(|e| e.message.as_str());
    match next {
        Next::Succeeded => {
            tracing::debug!(status, ms = attempt.duration_ms, "delivered");
        }
        Next::Retry { at_ms } => {
            let in_ms = at_ms.saturating_sub(attempt.at_ms);
            tracing::warn!(
                status,
                error,
                retry_in_ms = in_ms,
                "attempt failed; will retry"
            );
        }
        Next::Failed => {
            tracing::warn!(
                status,
                error,
                "delivery failed for good; kept as a dead letter"
            );
        }
        Next::Deferred { at_ms } => {
            let in_ms = at_ms.saturating_sub(attempt.at_ms);
            tracing::error!(
                error,
                retry_in_ms = in_ms,
                "the router could not make the attempt (short of a resource of its own); will retry, not counted against the receiver"
            );
        }
        Next::Gone { .. } => {
            tracing::warn!(
                status,
                "the receiver answered 410 Gone; the delivery is held for the webhook's resume"
            );
        }
        Next::Filtered => {}
    }
}
