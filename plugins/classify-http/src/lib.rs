//! A Switchyard classify plugin that judges a receiver's answer by its HTTP
//! status, its `Retry-After` header and a `"retryable": false` flag in its
//! JSON body. The first rule that applies decides:
//!
//! 1. a status in `permanent_statuses` (default 404 and 410) is permanent;
//! 2. 429 and 503 are retried, after the `Retry-After` delay when that is
//!    given in seconds (an HTTP date cannot be used: plugins have no clock,
//!    so the webhook's schedule decides);
//! 3. a 2xx or 4xx answer whose JSON body has `"retryable": false` at the top
//!    level is permanent;
//! 4. anything else, transport errors included, is left to the next
//!    classifier or the built-in rule.

use serde::Deserialize;
use serde_json::Value;
use switchyard_plugin_sdk::{Attempt, Classify, Event, Plugin, Response, Verdict, export_classify};

/// Classifies by status, `Retry-After` and the `retryable` flag.
#[derive(Debug)]
struct ClassifyHttp {
    permanent_statuses: Vec<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_permanent_statuses")]
    permanent_statuses: Vec<u16>,
}

fn default_permanent_statuses() -> Vec<u16> {
    vec![404, 410]
}

impl Plugin for ClassifyHttp {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        let statuses = config.permanent_statuses;
        if let Some(bad) = statuses.iter().find(|s| !(100..=599).contains(*s)) {
            return Err(format!("`permanent_statuses`: {bad} is not an HTTP status"));
        }
        Ok(ClassifyHttp {
            permanent_statuses: statuses,
        })
    }
}

impl Classify for ClassifyHttp {
    fn classify(&self, _event: &Event, attempt: &Attempt) -> Verdict {
        match attempt.response() {
            Some(response) => self.judge(response),
            None => Verdict::Default,
        }
    }
}

impl ClassifyHttp {
    fn judge(&self, response: &Response) -> Verdict {
        let status = response.status;
        if self.permanent_statuses.contains(&status) {
            Verdict::Permanent(format!("the receiver answered HTTP {status}"))
        } else if status == 429 || status == 503 {
            Verdict::Retry {
                after_ms: retry_after_ms(response),
            }
        } else if (is_2xx(status) || is_4xx(status)) && says_not_retryable(response) {
            Verdict::Permanent(format!(
                "the receiver answered HTTP {status} with \"retryable\": false"
            ))
        } else {
            Verdict::Default
        }
    }
}

fn is_2xx(status: u16) -> bool {
    (200..300).contains(&status)
}

fn is_4xx(status: u16) -> bool {
    (400..500).contains(&status)
}

/// The `Retry-After` delay in milliseconds, when it is given in seconds.
fn retry_after_ms(response: &Response) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: u64 = value.parse().ok()?;
    Some(seconds.saturating_mul(1000))
}

/// Whether the body is a JSON object with `"retryable": false`.
fn says_not_retryable(response: &Response) -> bool {
    let Ok(body) = response.json() else {
        return false;
    };
    body.get("retryable") == Some(&Value::Bool(false))
}

export_classify!(ClassifyHttp);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::{Outcome, TransportError, TransportErrorKind, load};

    fn classifier(config: &str) -> ClassifyHttp {
        load(config).unwrap()
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    fn classify(plugin: &ClassifyHttp, outcome: Outcome) -> Verdict {
        let attempt = Attempt {
            number: 1,
            max_attempts: 5,
            duration_ms: 20,
            outcome,
        };
        plugin.classify(&Event::new("order.paid", "{}"), &attempt)
    }

    fn judge(status: u16, headers: &[(&str, &str)], body: &str) -> Verdict {
        let outcome = Outcome::Response(response(status, headers, body));
        classify(&classifier("{}"), outcome)
    }

    fn retry(after_ms: Option<u64>) -> Verdict {
        Verdict::Retry { after_ms }
    }

    #[test]
    fn gone_and_not_found_are_permanent() {
        for status in [404, 410] {
            let Verdict::Permanent(reason) = judge(status, &[], "") else {
                panic!("{status} is not permanent");
            };
            assert!(reason.contains(&status.to_string()), "{reason}");
        }
    }

    #[test]
    fn throttling_is_retried_after_retry_after_seconds() {
        assert_eq!(
            judge(429, &[("Retry-After", "30")], ""),
            retry(Some(30_000))
        );
        assert_eq!(judge(503, &[("retry-after", " 0 ")], ""), retry(Some(0)));
        assert_eq!(judge(503, &[], ""), retry(None));
    }

    #[test]
    fn unusable_retry_after_leaves_the_delay_to_the_schedule() {
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        for value in [date, "-5", "1.5", "", "99999999999999999999999"] {
            assert_eq!(
                judge(429, &[("Retry-After", value)], ""),
                retry(None),
                "{value}"
            );
        }
    }

    #[test]
    fn retryable_false_is_permanent_for_2xx_and_4xx() {
        let body = r#"{"error": "bad card", "retryable": false}"#;
        assert!(matches!(judge(200, &[], body), Verdict::Permanent(_)));
        assert!(matches!(judge(422, &[], body), Verdict::Permanent(_)));
        assert_eq!(judge(500, &[], body), Verdict::Default);
        assert_eq!(judge(422, &[], r#"{"retryable": true}"#), Verdict::Default);
        assert_eq!(
            judge(422, &[], r#"{"retryable": "false"}"#),
            Verdict::Default
        );
        assert_eq!(
            judge(422, &[], r#"[{"retryable": false}]"#),
            Verdict::Default
        );
        assert_eq!(judge(422, &[], "retryable: false"), Verdict::Default);
    }

    #[test]
    fn everything_else_is_default() {
        assert_eq!(judge(200, &[], "ok"), Verdict::Default);
        assert_eq!(judge(500, &[], ""), Verdict::Default);
        let error = TransportError {
            kind: TransportErrorKind::Timeout,
            message: "timed out".into(),
        };
        let verdict = classify(&classifier("{}"), Outcome::TransportError(error));
        assert_eq!(verdict, Verdict::Default);
    }

    #[test]
    fn permanent_statuses_override_the_list() {
        let plugin = classifier(r#"{"permanent_statuses": [400, 429]}"#);
        let verdict = |status| classify(&plugin, Outcome::Response(response(status, &[], "")));
        assert!(matches!(verdict(400), Verdict::Permanent(_)));
        assert!(matches!(verdict(429), Verdict::Permanent(_)));
        assert_eq!(verdict(404), Verdict::Default);
        assert_eq!(verdict(410), Verdict::Default);
    }

    #[test]
    fn config_errors() {
        let error = |config: &str| load::<ClassifyHttp>(config).unwrap_err();
        assert!(error(r#"{"permanent_statuses": [42]}"#).contains("42 is not an HTTP status"));
        assert!(error(r#"{"permanent_statuses": [70000]}"#).starts_with("invalid config"));
        assert!(error(r#"{"statuses": [404]}"#).contains("unknown field"));
    }
}
