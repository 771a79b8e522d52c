//! Conversions between the SDK's types and the generated ABI types.

use crate::bindings::init::switchyard::plugin::types as wit;
use crate::event::Event;
use crate::hooks::{
    Attempt, Outcome, Replacement, Response, Transformed, TransportError, TransportErrorKind,
    Verdict,
};

impl From<wit::Event> for Event {
    fn from(event: wit::Event) -> Self {
        Event {
            id: event.id,
            event_type: event.event_type,
            webhook_id: event.webhook_id,
            sender: event.sender,
            received_at_ms: event.received_at_ms,
            headers: event.headers,
            body: event.body,
        }
    }
}

impl From<Transformed> for wit::Transformed {
    fn from(transformed: Transformed) -> Self {
        match transformed {
            Transformed::Unchanged => wit::Transformed::Unchanged,
            Transformed::Replaced(replacement) => wit::Transformed::Replaced(replacement.into()),
            Transformed::Dropped(reason) => wit::Transformed::Dropped(reason),
        }
    }
}

impl From<Replacement> for wit::Replacement {
    fn from(replacement: Replacement) -> Self {
        wit::Replacement {
            body: replacement.body,
            event_type: replacement.event_type,
            headers: replacement.headers,
        }
    }
}

impl From<wit::Attempt> for Attempt {
    fn from(attempt: wit::Attempt) -> Self {
        Attempt {
            number: attempt.number,
            max_attempts: attempt.max_attempts,
            duration_ms: attempt.duration_ms,
            outcome: attempt.outcome.into(),
        }
    }
}

impl From<wit::Outcome> for Outcome {
    fn from(outcome: wit::Outcome) -> Self {
        match outcome {
            wit::Outcome::Response(response) => Outcome::Response(response.into()),
            wit::Outcome::TransportError(error) => Outcome::TransportError(error.into()),
        }
    }
}

impl From<wit::Response> for Response {
    fn from(response: wit::Response) -> Self {
        Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
            truncated: response.truncated,
        }
    }
}

impl From<wit::TransportError> for TransportError {
    fn from(error: wit::TransportError) -> Self {
        TransportError {
            kind: error.kind.into(),
            message: error.message,
        }
    }
}

impl From<wit::TransportErrorKind> for TransportErrorKind {
    fn from(kind: wit::TransportErrorKind) -> Self {
        match kind {
            wit::TransportErrorKind::Dns => TransportErrorKind::Dns,
            wit::TransportErrorKind::Connect => TransportErrorKind::Connect,
            wit::TransportErrorKind::Tls => TransportErrorKind::Tls,
            wit::TransportErrorKind::Timeout => TransportErrorKind::Timeout,
            wit::TransportErrorKind::Reset => TransportErrorKind::Reset,
            wit::TransportErrorKind::Other => TransportErrorKind::Other,
        }
    }
}

impl From<Verdict> for wit::Verdict {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Success => wit::Verdict::Success,
            Verdict::Retry { after_ms } => wit::Verdict::Retry(after_ms),
            Verdict::Permanent(reason) => wit::Verdict::Permanent(reason),
            Verdict::Default => wit::Verdict::Default,
        }
    }
}
