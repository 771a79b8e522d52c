//! What the hooks return, and the delivery attempt a classifier judges.

use serde_json::Value;

use crate::event::{Header, find_header, parse_json};

/// What a transform did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transformed {
    /// Deliver the event as it is.
    Unchanged,
    /// Deliver this instead.
    Replaced(Replacement),
    /// Do not deliver it; the reason is recorded, and the delivery marked
    /// `filtered`.
    Dropped(String),
}

impl Transformed {
    /// Deliver `body` instead, keeping the event type and adding no headers.
    pub fn replace(body: impl Into<Vec<u8>>) -> Self {
        Transformed::Replaced(Replacement {
            body: body.into(),
            ..Replacement::default()
        })
    }

    /// Deliver `body`, serialized as JSON, instead; see [`Transformed::replace`].
    pub fn replace_json(body: &Value) -> Self {
        Transformed::replace(body.to_string())
    }
}

/// A transform's new version of the event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replacement {
    /// The new body, delivered and signed as it is. It must be JSON, sent with
    /// `Content-Type: application/json`, unless `headers` has a `content-type`
    /// (a valid media type), which then says what it is.
    pub body: Vec<u8>,
    /// A new event type, or `None` to keep it.
    pub event_type: Option<String>,
    /// Headers to add to the request: at most 64, each value at most 8 KiB,
    /// 32 KiB in all. They cannot replace the headers Switchyard sets itself
    /// (signatures, user agent) nor change the request's framing
    /// (content-length, content-encoding, expect, host, hop-by-hop headers);
    /// `content-type` only declares the body's type.
    pub headers: Vec<Header>,
}

/// One delivery attempt, for a classifier to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// The most attempts the webhook's retry schedule allows.
    pub max_attempts: u32,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
    /// How the attempt ended.
    pub outcome: Outcome,
}

impl Attempt {
    /// The receiver's answer, if it gave one.
    pub fn response(&self) -> Option<&Response> {
        match &self.outcome {
            Outcome::Response(response) => Some(response),
            Outcome::TransportError(_) => None,
        }
    }

    /// Whether the retry schedule allows no attempt after this one.
    pub fn is_last(&self) -> bool {
        self.number >= self.max_attempts
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered.
    Response(Response),
    /// The receiver did not answer.
    TransportError(TransportError),
}

/// The receiver's answer to one attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: Vec<Header>,
    /// The first 64 KiB of the response body.
    pub body: Vec<u8>,
    /// Whether the body was longer than what is given here.
    pub truncated: bool,
}

impl Response {
    /// The value of the first header with this name, compared ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body, parsed as JSON (an error if it was truncated mid-value).
    pub fn json(&self) -> Result<Value, String> {
        parse_json(&self.body, "response body")
    }
}

/// Why an attempt got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The kind of failure.
    pub kind: TransportErrorKind,
    /// A description, for people.
    pub message: String,
}

/// The kinds of [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorKind {
    /// The receiver's name did not resolve.
    Dns,
    /// The connection was refused or could not be made.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The receiver took too long.
    Timeout,
    /// The connection was reset.
    Reset,
    /// Anything else.
    Other,
}

/// A classifier's judgement of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver has the event: stop.
    Success,
    /// A transient failure: try again, after `after_ms` milliseconds if given,
    /// else on the webhook's schedule. Past the last attempt the delivery is
    /// dead.
    Retry {
        /// The delay before the next attempt, overriding the schedule.
        after_ms: Option<u64>,
    },
    /// The receiver will never take this event: dead-letter it now, with this
    /// reason.
    Permanent(String),
    /// No opinion: ask the next classifier, and in the end the built-in rule
    /// (2xx success, 410 permanent, anything else retried).
    Default,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(number: u32, outcome: Outcome) -> Attempt {
        Attempt {
            number,
            max_attempts: 3,
            duration_ms: 10,
            outcome,
        }
    }

    #[test]
    fn replace_json_keeps_type_and_adds_no_headers() {
        let Transformed::Replaced(replacement) = Transformed::replace_json(&Value::Bool(true))
        else {
            panic!("not replaced");
        };
        assert_eq!(replacement.body, b"true");
        assert_eq!(replacement.event_type, None);
        assert!(replacement.headers.is_empty());
    }

    #[test]
    fn attempt_helpers() {
        let response = Response {
            status: 200,
            ..Response::default()
        };
        let answered = attempt(3, Outcome::Response(response.clone()));
        assert_eq!(answered.response(), Some(&response));
        assert!(answered.is_last());

        let error = TransportError {
            kind: TransportErrorKind::Timeout,
            message: "slow".into(),
        };
        let unanswered = attempt(1, Outcome::TransportError(error));
        assert_eq!(unanswered.response(), None);
        assert!(!unanswered.is_last());
    }

    #[test]
    fn response_helpers() {
        let response = Response {
            status: 429,
            headers: vec![("Retry-After".into(), "5".into())],
            body: br#"{"retryable":true}"#.to_vec(),
            truncated: false,
        };
        assert_eq!(response.header("retry-after"), Some("5"));
        assert_eq!(response.json().unwrap()["retryable"], true);
    }
}
