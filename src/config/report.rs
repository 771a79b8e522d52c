//! How a refused config is shown: on a terminal as a compiler shows errors (the
//! message, file:line:column, the line with a caret under the key, the key
//! path), and elsewhere (logs, the admin API) one line per problem.
//!
//! A report quotes the file, and a config file holds secrets. So what a report
//! may show is the file with every secret value masked: tokens, secrets, header
//! values, and URLs past their host (a path can be a credential, as Slack's
//! are). Masks keep the text's length, so spans and columns stay true.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};
use toml::de::{DeTable, DeValue};

use super::ConfigError;

/// Where a problem is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The bytes of the file the problem is about.
    pub span: Range<usize>,
}

impl Location {
    pub(super) fn new(text: &str, span: Range<usize>) -> Self {
        let before = text.get(..span.start).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            span,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

impl ConfigError {
    /// Every problem as rustc shows an error, each followed by a blank line; for
    /// a terminal, coloured if `styled`. `None` for an error that is not about
    /// the file's content (it could not be read): its `Display` says it all.
    pub fn render(&self, styled: bool) -> Option<String> {
        let ConfigError::Invalid {
            path,
            problems,
            shown,
        } = self
        else {
            return None;
        };
        let renderer = if styled {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let origin = path.display().to_string();
        let mut out = String::new();
        for problem in problems {
            let title = Level::ERROR.primary_title(&problem.message);
            let mut group: Group<'_> = match (&problem.at, shown) {
                (Some(at), Some(text)) => title.element(
                    Snippet::source(text.as_str())
                        .path(origin.as_str())
                        .annotation(AnnotationKind::Primary.span(at.span.clone())),
                ),
                _ => title.element(Origin::path(origin.as_str())),
            };
            if !problem.key.is_empty() {
                let key = Level::NOTE.with_name(Some("key"));
                group = group.element(key.message(&problem.key));
            }
            out.push_str(&renderer.render(&[group]));
            out.push_str("\n\n");
        }
        Some(out)
    }

    /// One line that sums it up, as a compiler ends its errors:
    /// `3 problems in switchyard.toml`.
    pub fn summary(&self) -> String {
        match self {
            ConfigError::Invalid { path, problems, .. } => {
                format!("{} in {}", count(problems.len()), path.display())
            }
            other => other.to_string(),
        }
    }
}

/// `1 problem`, `3 problems`.
pub(super) fn count(n: usize) -> String {
    if n == 1 {
        "1 problem".into()
    } else {
        format!("{n} problems")
    }
}

/// Whether a key by this name holds a secret (not where to find one: `token_env`).
pub(super) fn is_secret_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "secret", "secrets", "password"]
        .iter()
        .any(|s| name == *s || name.ends_with(&format!("_{s}")))
}

/// `text` with every secret value in `tree`, and the `extra` spans, masked.
/// After a syntax error the tree may miss lines, so then every line whose key
/// looks secret is masked past its `=` too.
pub(super) fn masked(
    text: &str,
    tree: &DeTable<'_>,
    extra: &[Range<usize>],
    syntax: bool,
) -> String {
    let mut spans = extra.to_vec();
    secrets_in_table(text, tree, false, &mut spans);
    if syntax {
        secret_lines(text, &mut spans);
    }
    let mut bytes = text.as_bytes().to_vec();
    for span in spans {
        for b in bytes.get_mut(span).into_iter().flatten() {
            // Line breaks stay, or a masked multi-line string would move the lines after it.
            if !matches!(*b, b'\n' | b'\r') {
                *b = b'*';
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn secrets_in_table(text: &str, table: &DeTable<'_>, all: bool, spans: &mut Vec<Range<usize>>) {
    for (key, value) in table {
        let name = key.get_ref().as_ref();
        let all = all || name == "headers" || is_secret_key(name);
        match value.get_ref() {
            DeValue::Table(inner) => secrets_in_table(text, inner, all, spans),
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(inner) => secrets_in_table(text, inner, all, spans),
                        _ if all => spans.push(unquoted(text, item.span())),
                        _ => {}
                    }
                }
            }
            _ if all => spans.push(unquoted(text, value.span())),
            DeValue::String(_) if name == "url" => {
                url_secrets(text, unquoted(text, value.span()), spans)
            }
            _ => {}
        }
    }
}

/// A value's span less its quotes: masked, a string still reads as one.
fn unquoted(text: &str, span: Range<usize>) -> Range<usize> {
    let Some(value) = text.get(span.clone()) else {
        return span;
    };
    let inner = value.trim_start_matches(['"', '\'']);
    let start = span.start + (value.len() - inner.len());
    let end = start + inner.trim_end_matches(['"', '\'']).len();
    start..end
}

/// The parts of a URL that may be credentials: user:password@ and all past the host.
fn url_secrets(text: &str, span: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let Some(url) = text.get(span.clone()) else {
        spans.push(span);
        return;
    };
    let authority = url.find("://").map_or(0, |i| i + 3);
    let end = url[authority..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority + i);
    spans.push(span.start + end..span.end);
    if let Some(at) = url[authority..end].rfind('@') {
        spans.push(span.start + authority..span.start + authority + at);
    }
}

/// Past the `=` of every line whose key, or whose table, looks secret or is a URL.
fn secret_lines(text: &str, spans: &mut Vec<Range<usize>>) {
    let mut offset = 0;
    let mut secret_table = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            let name = trimmed.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace());
            secret_table = name.rsplit('.').next().is_some_and(is_secret_table);
        } else if let Some((key, value)) = line.split_once('=') {
            let key = key.trim();
            let last = key.rsplit('.').next().unwrap_or(key).trim();
            if secret_table || is_secret_table(last) || last == "url" || key.contains("headers") {
                let start = offset + line.len() - value.trim_start().len();
                spans.push(start..offset + line.trim_end().len());
            }
        }
        offset += line.len();
    }
}

fn is_secret_table(name: &str) -> bool {
    name == "headers" || is_secret_key(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str, syntax: bool) -> String {
        let (tree, _) = DeTable::parse_recoverable(text);
        masked(text, tree.get_ref(), &[], syntax)
    }

    #[test]
    fn secrets_are_masked_and_the_rest_is_shown_as_written() {
        let text = "[admin]\ntoken = \"admin-token-0123456789\"\n[[webhooks]]\nid = \"w\"\nurl = \"https://u:pw@hooks.example.com/services/T0/B0/XYZ?k=v\"\nsecrets = [\"whsec_a\", \"whsec_b\"]\nsecret_env = \"VAR\"\nheaders = { Authorization = \"Bearer abc\" }\n";
        let shown = shown(text, false);
        assert_eq!(shown.len(), text.len());
        for hidden in ["admin-token", "pw@", "services", "k=v", "whsec_", "Bearer"] {
            assert!(!shown.contains(hidden), "{hidden}: {shown}");
        }
        for kept in [
            "id = \"w\"",
            "hooks.example.com",
            "\"VAR\"",
            "Authorization = \"",
        ] {
            assert!(shown.contains(kept), "{kept}: {shown}");
        }
    }

    #[test]
    fn after_a_syntax_error_secret_looking_lines_are_masked_whole() {
        let text =
            "[[senders]]\nname = \"a\"\ntoken = \"unterminated-secret\n[x.headers]\nA = \"b c\n";
        let shown = shown(text, true);
        assert!(!shown.contains("unterminated-secret"), "{shown}");
        assert!(!shown.contains("b c"), "{shown}");
        assert!(shown.contains("name = \"a\""), "{shown}");
    }

    #[test]
    fn a_report_shows_each_problem_at_its_line_and_never_a_secret() {
        let text = "[[senders]]\nname = \"a\"\ntoken = 98765432\n";
        let err = crate::Config::parse(
            text,
            std::path::Path::new("s.toml"),
            &std::collections::HashMap::<String, String>::new(),
        )
        .unwrap_err();
        let report = err.render(false).unwrap();
        assert!(
            report.starts_with("error: expected a string, found an integer\n --> s.toml:3:9\n"),
            "{report}"
        );
        assert!(report.contains("3 | token = ********\n"), "{report}");
        assert!(report.contains("= key: senders[0].token"), "{report}");
        assert!(!report.contains("98765432"), "{report}");
        assert_eq!(err.summary(), "1 problem in s.toml");
        assert!(!err.render(true).unwrap().contains("98765432"));

        // A key the file leaves out has no line: the report names the file alone.
        let err = crate::Config::parse(
            "",
            std::path::Path::new("s.toml"),
            &std::collections::HashMap::<String, String>::new(),
        )
        .unwrap_err();
        let report = err.render(false).unwrap();
        assert!(
            report.contains("s.toml\n") && report.contains("= key: senders"),
            "{report}"
        );
    }

    #[test]
    fn locations_count_lines_and_characters_from_one() {
        let at = Location::new("a = 1\n  é = 2\n", 10..11);
        assert_eq!((at.line, at.column), (2, 4));
        assert_eq!(at.to_string(), "line 2, column 4");
        assert_eq!(Location::new("", 0..0).line, 1);
    }
}
