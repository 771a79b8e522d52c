//! Slack's `mrkdwn` text: escaping and length limits.

use serde_json::{Value, json};

/// A `mrkdwn` text object.
pub fn text(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

/// Escapes the three characters Slack gives meaning to, so that a value from
/// an event shows as it is (`<!channel>` stays text, not a mention).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` characters, ending in `…` if it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some(_) => {
            let kept: String = text.chars().take(max.saturating_sub(1)).collect();
            kept + "…"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_only() {
        assert_eq!(
            escape("<!channel> & *bold*"),
            "&lt;!channel&gt; &amp; *bold*"
        );
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 4), "hél…");
        assert_eq!(truncate("héllo", 0), "…");
    }
}
