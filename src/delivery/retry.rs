//! What an attempt's result means, and when the next attempt is due.
//!
//! The built-in rule, after AutoSend: any 2xx succeeds; `410 Gone` ends the
//! delivery's retries, and by the webhook's `on_gone` either disables the webhook,
//! holding the delivery (the Standard Webhooks spec's rule), or dead-letters it;
//! everything else (other statuses, refused connections, DNS, TLS, timeouts) is
//! retried on the webhook's schedule, with up to ±10% jitter so a recovering
//! receiver is not hit by a synchronized wave. On 429 and 503 a `Retry-After` longer
//! than the scheduled delay is honoured, capped at an hour. Out of retries, the
//! delivery is dead.
//!
//! An attempt that never left the router, because it ran short of file
//! descriptors or memory ([`ErrorKind::Local`]), is not the receiver's failure:
//! it is made again after [`LOCAL_RETRY`], and counts toward nothing.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header::RETRY_AFTER};

use super::client::{Response, TransportError};
use crate::model::millis;
use crate::model::{ErrorKind, Next, OnGone};

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The longest delay a classifier may ask for, as the config allows for schedules.
pub const MAX_RETRY_IN: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long an attempt the router could not make waits before it is made again:
/// long enough for descriptors to be given back, short enough not to matter.
pub const LOCAL_RETRY: Duration = Duration::from_secs(1);

/// What one attempt's result means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// A transient failure; `after` is a delay the receiver asked for, if any: the
    /// retry waits at least that long, and at least the scheduled delay.
    Retry {
        after: Option<Duration>,
    },
    /// A transient failure, to retry after exactly this delay (a classifier's own backoff).
    RetryIn(Duration),
    Permanent {
        reason: String,
    },
    /// The receiver answered `410 Gone`: it retired the endpoint. No retry; what
    /// follows is the webhook's [`OnGone`].
    Gone,
    /// The router could not make the attempt; see the module docs.
    Local,
}

/// The built-in classification of a response or transport error.
pub fn classify(result: &Result<Response, TransportError>) -> Verdict {
    let response = match result {
        Ok(response) => response,
        Err(error) if error.kind == ErrorKind::Local => return Verdict::Local,
        Err(_) => return Verdict::Retry { after: None },
    };
    match response.status {
        s if s.is_success() => Verdict::Success,
        StatusCode::GONE => Verdict::Gone,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Verdict::Retry {
            after: retry_after(&response.headers, SystemTime::now()),
        },
        _ => Verdict::Retry { after: None },
    }
}

/// `Retry-After` as seconds or an HTTP date, if present and readable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Where a delivery goes after attempt `number` (1-based) with this verdict, for a
/// webhook with these retry `delays` and this `on_gone` rule.
pub fn next(
    verdict: &Verdict,
    number: u32,
    delays: &[Duration],
    on_gone: OnGone,
    now_ms: u64,
) -> Next {
    match verdict {
        Verdict::Success => Next::Succeeded,
        Verdict::Permanent { .. } => Next::Failed,
        // Held, due now: the webhook is disabled, so it waits for a resume.
        Verdict::Gone if on_gone == OnGone::Disable => Next::Gone { at_ms: now_ms },
        Verdict::Gone => Next::Failed,
        Verdict::Local => Next::Deferred {
            at_ms: now_ms.saturating_add(millis(jitter(LOCAL_RETRY))),
        },
        _ if number as usize > delays.len() => Next::Failed,
        Verdict::RetryIn(delay) => Next::Retry {
            at_ms: now_ms.saturating_add(millis(*delay.min(&MAX_RETRY_IN))),
        },
        Verdict::Retry { after } => {
            let index = usize::try_from(number.saturating_sub(1)).unwrap_or(usize::MAX);
            let Some(scheduled) = delays.get(index) else {
                return Next::Failed;
            };
            // The receiver may lengthen the wait, up to the cap, but never shorten it.
            let asked = after.map_or(Duration::ZERO, |a| a.min(MAX_RETRY_AFTER));
            let delay = jitter(*scheduled).max(asked);
            Next::Retry {
                at_ms: now_ms.saturating_add(millis(delay)),
            }
        }
    }
}

/// `delay` scaled by a random factor in [0.9, 1.1].
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.9 + 0.2 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> Result<Response, TransportError> {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert(RETRY_AFTER, value.parse().unwrap());
        }
        Ok(Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Default::default(),
            truncated: false,
        })
    }

    const DELAYS: [Duration; 3] = [
        Duration::from_secs(5),
        Duration::from_secs(10),
        Duration::from_secs(20),
    ];

    #[test]
    fn success_permanent_and_transient() {
        assert_eq!(classify(&response(204, None)), Verdict::Success);
        assert_eq!(classify(&response(410, None)), Verdict::Gone);
        assert_eq!(
            classify(&response(500, None)),
            Verdict::Retry { after: None }
        );
        assert_eq!(
            classify(&response(400, None)),
            Verdict::Retry { after: None }
        );
    }

    #[test]
    fn an_attempt_the_router_could_not_make_is_deferred_even_past_the_schedule() {
        let local = Err(TransportError {
            kind: ErrorKind::Local,
            message: "Too many open files".into(),
        });
        assert_eq!(classify(&local), Verdict::Local);
        let connect = Err(TransportError {
            kind: ErrorKind::Connect,
            message: "connection refused".into(),
        });
        assert_eq!(classify(&connect), Verdict::Retry { after: None });
        // Even the attempt that would be the last is not the last.
        let Next::Deferred { at_ms } = next(&Verdict::Local, 4, &DELAYS, OnGone::Disable, 1_000)
        else {
            panic!("deferred");
        };
        assert!((1_900..=2_100).contains(&at_ms), "{at_ms}");
    }

    #[test]
    fn the_schedule_has_jitter_within_ten_percent_and_an_end() {
        let retry = Verdict::Retry { after: None };
        for (number, base) in [(1, 5_000), (2, 10_000), (3, 20_000)] {
            let Next::Retry { at_ms } = next(&retry, number, &DELAYS, OnGone::Disable, 0) else {
                panic!("attempt {number} should be retried");
            };
            assert!((base * 9 / 10..=base * 11 / 10).contains(&at_ms), "{at_ms}");
        }
        assert_eq!(next(&retry, 4, &DELAYS, OnGone::Disable, 0), Next::Failed);
        let exact = Verdict::RetryIn(Duration::from_millis(1234));
        assert_eq!(
            next(&exact, 1, &DELAYS, OnGone::Disable, 0),
            Next::Retry { at_ms: 1234 }
        );
        assert_eq!(
            next(&exact, 4, &DELAYS, OnGone::Disable, 0),
            Next::Failed,
            "no retry past the schedule"
        );
    }

    #[test]
    fn retry_after_wins_only_when_longer_and_is_capped() {
        let verdict = classify(&response(503, Some("60")));
        assert_eq!(
            next(&verdict, 1, &DELAYS, OnGone::Disable, 0),
            Next::Retry { at_ms: 60_000 }
        );
        let short = classify(&response(429, Some("1")));
        let Next::Retry { at_ms } = next(&short, 1, &DELAYS, OnGone::Disable, 0) else {
            panic!()
        };
        assert!(at_ms >= 4_500);
        let huge = classify(&response(429, Some("999999")));
        assert_eq!(
            next(&huge, 1, &DELAYS, OnGone::Disable, 0),
            Next::Retry { at_ms: 3_600_000 }
        );
        let long_schedule = [Duration::from_secs(7200)];
        let Next::Retry { at_ms } = next(&huge, 1, &long_schedule, OnGone::Disable, 0) else {
            panic!()
        };
        assert!(
            at_ms >= 6_480_000,
            "the cap never shortens the schedule: {at_ms}"
        );
    }

    #[test]
    fn gone_holds_the_delivery_or_kills_it_as_the_webhook_says_even_on_the_first_attempt() {
        let gone = classify(&response(410, None));
        assert_eq!(
            next(&gone, 1, &DELAYS, OnGone::Disable, 7),
            Next::Gone { at_ms: 7 }
        );
        // Past the schedule too: the hold is the webhook's, not the delivery's.
        assert_eq!(
            next(&gone, 9, &DELAYS, OnGone::Disable, 7),
            Next::Gone { at_ms: 7 }
        );
        assert_eq!(next(&gone, 1, &DELAYS, OnGone::Dead, 7), Next::Failed);
    }

    #[test]
    fn retry_after_accepts_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(90)));
    }
}
