//! What a name may be: a webhook's id (chosen by the operator, in the config), an
//! event's id and type (chosen by whoever posts it).
//!
//! Two rules, not one, and on purpose. A webhook id is a name the operator
//! picks once and the router then puts everywhere: admin API paths, metric
//! labels, log fields, store keys; so it is short and plain. An event id is the
//! sender's own (often another system's key, such as `msg_2f8…` or
//! `order:17/3`), and only has to be safe in logs, URLs and headers; refusing
//! what a sender already uses would make it invent a mapping. They live side by
//! side, under names that say which is which, so that neither is taken for the
//! other.

/// A webhook id: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn is_webhook_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An event id: 1 to 255 printable ASCII characters, no spaces: safe in logs,
/// URLs and headers.
pub fn is_event_id(id: &str) -> bool {
    (1..=255).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// An event type: 1 to 128 of `A-Z a-z 0-9 . _ : -`, safe in metric labels,
/// logs and glob patterns. Ingest refuses others, and so does a transform that
/// would retype an event.
pub fn is_event_type(event_type: &str) -> bool {
    (1..=128).contains(&event_type.len())
        && (event_type.bytes())
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_ids_are_short_and_plain() {
        for good in ["w", "orders-v2", "a.b_c-D9", &"x".repeat(64)] {
            assert!(is_webhook_id(good), "{good}");
        }
        for bad in ["", "bad id!", "a/b", "a:b", "é", &"x".repeat(65)] {
            assert!(!is_webhook_id(bad), "{bad}");
        }
    }

    #[test]
    fn event_ids_are_any_printable_ascii_without_spaces() {
        for good in ["e", "order:17/3", "msg_2f8!~", &"x".repeat(255)] {
            assert!(is_event_id(good), "{good}");
        }
        for bad in ["", "has space", "tab\t", "é", &"x".repeat(256)] {
            assert!(!is_event_id(bad), "{bad}");
        }
    }
}
