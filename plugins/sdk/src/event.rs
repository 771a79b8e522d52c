//! The event a hook is given.

use serde_json::Value;

/// A header: name, then value.
pub type Header = (String, String);

/// An event on its way to one webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The event's id: the sender's, or one Switchyard generated.
    pub id: String,
    /// The event's type, such as `order.paid`. A transform may have changed it.
    pub event_type: String,
    /// The webhook this delivery is for.
    pub webhook_id: String,
    /// The name of the sender that posted the event.
    pub sender: String,
    /// When Switchyard received the event, in unix milliseconds. Use this, not
    /// a clock: a plugin's answer should depend only on its input.
    pub received_at_ms: u64,
    /// Extra request headers set by earlier transforms in the chain.
    pub headers: Vec<Header>,
    /// The JSON body to deliver: `{"id", "type", "timestamp", "data"}` as the
    /// sender posted it, or the previous transform's output.
    pub body: Vec<u8>,
}

impl Event {
    /// An event of this type with this body, every other field empty: handy
    /// in tests.
    pub fn new(event_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Event {
            event_type: event_type.into(),
            body: body.into(),
            ..Event::default()
        }
    }

    /// The body, parsed as JSON.
    pub fn json(&self) -> Result<Value, String> {
        parse_json(&self.body, "event body")
    }

    /// The value of the first header with this name, compared ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Parses `bytes` as JSON; the error names `what` was not JSON.
pub(crate) fn parse_json(bytes: &[u8], what: &str) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{what} is not JSON: {e}"))
}

/// The value of the first header in `headers` named `name`, ignoring case.
pub(crate) fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_parses_the_body() {
        let event = Event::new("order.paid", r#"{"data":{"amount":5}}"#);
        assert_eq!(event.json().unwrap()["data"]["amount"], 5);
    }

    #[test]
    fn json_reports_a_body_that_is_not_json() {
        let err = Event::new("x", "nope").json().unwrap_err();
        assert!(err.starts_with("event body is not JSON"), "{err}");
    }

    #[test]
    fn header_ignores_case_and_takes_the_first() {
        let mut event = Event::new("x", "{}");
        event.headers = vec![
            ("X-Trace".into(), "1".into()),
            ("x-trace".into(), "2".into()),
        ];
        assert_eq!(event.header("x-TRACE"), Some("1"));
        assert_eq!(event.header("missing"), None);
    }
}
