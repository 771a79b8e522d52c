//! The message text template: `{type}`, `{id}`, `{webhook}` and `{sender}`
//! stand for the event's fields (escaped for Slack); `{{` and `}}` for
//! braces. The rest is Slack `mrkdwn` as written, so it can hold links
//! (`<https://example.com|dashboard>`) and formatting.

use switchyard_plugin_sdk::Event;

use crate::mrkdwn::escape;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Type,
    Id,
    Webhook,
    Sender,
}

impl Template {
    /// Parses `text`; unknown placeholders and unclosed braces are errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the template is empty".to_string());
        }
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            match c {
                '{' | '}' if rest.starts_with(c) => {
                    literal.push(c);
                    rest = &rest[1..];
                }
                '{' => {
                    let (var, after) = placeholder(rest)?;
                    pieces.extend(take_text(&mut literal));
                    pieces.push(Piece::Var(var));
                    rest = after;
                }
                _ => literal.push(c),
            }
        }
        pieces.extend(take_text(&mut literal));
        Ok(Template(pieces))
    }

    /// The text for `event`.
    pub fn render(&self, event: &Event) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Var(var) => out.push_str(&escape(var.value(event))),
            }
        }
        out
    }
}

/// The placeholder at the start of `rest` (just past its `{`), and what
/// follows its `}`.
fn placeholder(rest: &str) -> Result<(Var, &str), String> {
    let end = rest
        .find('}')
        .ok_or("a `{` is not closed: write `{{` for a brace")?;
    let var = Var::named(&rest[..end])?;
    Ok((var, &rest[end + 1..]))
}

fn take_text(literal: &mut String) -> Option<Piece> {
    (!literal.is_empty()).then(|| Piece::Text(std::mem::take(literal)))
}

impl Var {
    fn named(name: &str) -> Result<Var, String> {
        match name {
            "type" => Ok(Var::Type),
            "id" => Ok(Var::Id),
            "webhook" => Ok(Var::Webhook),
            "sender" => Ok(Var::Sender),
            _ => Err(format!(
                "unknown placeholder `{{{name}}}`: use {{type}}, {{id}}, {{webhook}} or \
                 {{sender}}, and `{{{{` for a brace"
            )),
        }
    }

    fn value(self, event: &Event) -> &str {
        match self {
            Var::Type => &event.event_type,
            Var::Id => &event.id,
            Var::Webhook => &event.webhook_id,
            Var::Sender => &event.sender,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, event: &Event) -> String {
        Template::parse(template).unwrap().render(event)
    }

    fn event() -> Event {
        Event {
            id: "e<1>".into(),
            webhook_id: "wh".into(),
            sender: "shop".into(),
            ..Event::new("order.paid", "{}")
        }
    }

    #[test]
    fn substitutes_and_escapes_placeholders() {
        let text = render("*{type}* {id} for {webhook} from {sender}", &event());
        assert_eq!(text, "*order.paid* e&lt;1&gt; for wh from shop");
    }

    #[test]
    fn keeps_literal_mrkdwn_and_escaped_braces() {
        let text = render("<https://x.test|see> {{id}} }} é", &event());
        assert_eq!(text, "<https://x.test|see> {id} } é");
        assert_eq!(render("{id}{id}", &event()), "e&lt;1&gt;e&lt;1&gt;");
    }

    #[test]
    fn rejects_bad_templates() {
        let error = |text: &str| Template::parse(text).unwrap_err();
        assert!(error("{typo}").starts_with("unknown placeholder `{typo}`"));
        assert!(error("{type").contains("not closed"));
        assert!(error(" ").contains("empty"));
    }
}
