//! One attempt: load the delivery, sign it afresh, send it, judge the answer, and
//! say where the delivery goes next. Nothing here writes; the lane records the
//! [`Outcome`] through the store.

use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request};
use http_body_util::Full;
use tracing::Instrument;

use super::Lane;
use super::client::{Response, TransportError};
use super::retry::{self, Verdict};
use crate::signing::Message;
use crate::store::{
    AttemptError, AttemptRecord, DeliveryRecord, DeliveryStatus, Due, ErrorKind, EventRecord, Next,
    Outcome, now_ms,
};

static JSON: HeaderValue = HeaderValue::from_static("application/json");
static AGENT: HeaderValue =
    HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION")));

/// What became of a due entry.
pub(super) enum Attempted {
    Made(Box<Outcome>),
    /// The entry points at no pending delivery (it finished, or its record is gone).
    Stale,
}

pub(super) async fn make(lane: &Lane, due: Due) -> Result<Attempted, crate::store::StoreError> {
    let Some((delivery, event)) = lane.store.delivery_with_event(due.delivery)? else {
        return Ok(Attempted::Stale);
    };
    if delivery.status != DeliveryStatus::Pending {
        return Ok(Attempted::Stale);
    }
    let span = tracing::info_span!(
        "attempt",
        delivery = %due.delivery,
        webhook = %lane.webhook.id,
        event = %event.id,
        attempt = delivery.attempts.saturating_add(1),
    );
    let outcome = send(lane, due, &delivery, event).instrument(span).await;
    Ok(Attempted::Made(Box::new(outcome)))
}

async fn send(lane: &Lane, due: Due, delivery: &DeliveryRecord, event: EventRecord) -> Outcome {
    let number = delivery.attempts.saturating_add(1);
    let payload = Bytes::from(event.payload);
    let at_ms = now_ms();
    let started = Instant::now();
    let (result, verdict) = match request(lane, due, &delivery.event_type, &payload, at_ms) {
        Ok(request) => {
            let result = lane.client.send(request, lane.webhook.timeout).await;
            let verdict = retry::classify(&result);
            (result, verdict)
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
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let next = retry::next(&verdict, number, &lane.webhook.retry_delays, now_ms());
    let attempt = AttemptRecord {
        delivery: due.delivery,
        webhook: lane.webhook.id.to_string(),
        event_id: event.id,
        event_type: event.event_type,
        number,
        url: lane.webhook.url.to_string(),
        status_code: result.as_ref().ok().map(|r| r.status.as_u16()),
        response_headers: result.as_ref().map(header_pairs).unwrap_or_default(),
        response_body: result.as_ref().map(|r| r.body.to_vec()).unwrap_or_default(),
        error: attempt_error(&result, &verdict),
        duration_ms,
        at_ms,
    };
    log(&attempt, next);
    Outcome {
        delivery: due.delivery,
        webhook: lane.webhook.id.clone(),
        dispatched_due_ms: due.at_ms,
        attempt,
        next,
    }
}

/// The signed request for one attempt, or why it cannot be sent.
fn request(
    lane: &Lane,
    due: Due,
    event_type: &str,
    payload: &Bytes,
    at_ms: u64,
) -> Result<Request<Full<Bytes>>, String> {
    let delivery_id = due.delivery.to_string();
    let message = Message {
        id: &delivery_id,
        event_type,
        body: payload,
        now_ms: at_ms,
    };
    let signed = (lane.webhook.signer.sign(&message)).map_err(|e| e.to_string())?;
    let mut request = Request::post(lane.webhook.url.clone())
        .body(Full::new(payload.clone()))
        .map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.extend(lane.webhook.headers.clone());
    headers.insert(CONTENT_TYPE, JSON.clone());
    headers.insert(USER_AGENT, AGENT.clone());
    headers.extend(signed);
    Ok(request)
}

fn header_pairs(response: &Response) -> Vec<(String, String)> {
    (response.headers.iter())
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.to_string(), value)
        })
        .collect()
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
        (Ok(response), Verdict::Retry { .. }) => Some(AttemptError {
            kind: ErrorKind::Status,
            message: format!("HTTP {}", response.status),
        }),
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
    }
}
