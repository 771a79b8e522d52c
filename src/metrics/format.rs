//! The two text formats `/metrics` answers in, and which one a scraper asked for.
//!
//! prometheus-client encodes only OpenMetrics. Prometheus has read it since
//! 2.5, and asks for it first; older scrapers (and tools like `promtool check
//! metrics`) read only the Prometheus text format 0.0.4. The two differ, for
//! what this router exports, only in a counter's family name, which
//! OpenMetrics gives without the `_total` its samples carry, in the `# UNIT` and
//! `# EOF` lines 0.0.4 does not have, and in the names of the `unknown` and
//! `info` types. So 0.0.4 is made from the OpenMetrics text, line by line.
//! (Exemplars, which 0.0.4 cannot carry, are not used.)
//!
//! Negotiation follows Prometheus' own client libraries: OpenMetrics when the
//! `Accept` header offers it at least as highly as the text format, else 0.0.4,
//! which is also the answer to a request without `Accept` (curl, old scrapers).

/// A text format of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    /// The Prometheus text format, version 0.0.4.
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for; see the module docs.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let (mut open_metrics, mut text) = (0.0_f32, 0.0_f32);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, value)| value.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            match essence.as_str() {
                "application/openmetrics-text" => open_metrics = open_metrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if open_metrics > 0.0 && open_metrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// The Prometheus text format 0.0.4 of `open_metrics`, an OpenMetrics text as
/// prometheus-client writes it: each family's `# HELP` line, then its `# TYPE`
/// line, an optional `# UNIT` line, then its samples; `# EOF` last.
pub fn to_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    // A family's HELP line waits for its TYPE line, which says whether the name changes.
    let mut help: Option<(&str, &str)> = None;
    for line in open_metrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, text)) = help.take() {
                push_help(&mut out, name, "", text);
            }
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                other => ("", other),
            };
            if let Some((help_name, text)) = help.take() {
                push_help(&mut out, help_name, suffix, text);
            }
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push_str(suffix);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if let Some((name, text)) = help {
        push_help(&mut out, name, "", text);
    }
    out
}

fn push_help(out: &mut String, name: &str, suffix: &str, text: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push_str(suffix);
    out.push(' ');
    out.push_str(text);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_when_offered_at_least_as_highly_as_text() {
        // What Prometheus 2.x sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        for text in [
            None,
            Some(""),
            Some("*/*"),
            Some("text/plain;version=0.0.4"),
            Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            Some("application/openmetrics-text;q=0"),
            Some("application/json"),
        ] {
            assert_eq!(Format::negotiate(text), Format::Text, "{text:?}");
        }
    }

    #[test]
    fn counters_are_named_with_total_and_openmetrics_only_lines_dropped() {
        let open_metrics = "# HELP switchyard_events Events posted.\n\
            # TYPE switchyard_events counter\n\
            switchyard_events_total{sender=\"a\",outcome=\"accepted\"} 3\n\
            # HELP switchyard_pending Pending.\n\
            # TYPE switchyard_pending gauge\n\
            switchyard_pending 2\n\
            # HELP x_seconds Took.\n\
            # TYPE x_seconds histogram\n\
            # UNIT x_seconds seconds\n\
            x_seconds_sum 1.5\n\
            x_seconds_count 2\n\
            x_seconds_bucket{le=\"+Inf\"} 2\n\
            # HELP odd An unknown.\n\
            # TYPE odd unknown\n\
            odd 1\n\
            # EOF\n";
        let text = "# HELP switchyard_events_total Events posted.\n\
            # TYPE switchyard_events_total counter\n\
            switchyard_events_total{sender=\"a\",outcome=\"accepted\"} 3\n\
            # HELP switchyard_pending Pending.\n\
            # TYPE switchyard_pending gauge\n\
            switchyard_pending 2\n\
            # HELP x_seconds Took.\n\
            # TYPE x_seconds histogram\n\
            x_seconds_sum 1.5\n\
            x_seconds_count 2\n\
            x_seconds_bucket{le=\"+Inf\"} 2\n\
            # HELP odd An unknown.\n\
            # TYPE odd untyped\n\
            odd 1\n";
        assert_eq!(to_text(open_metrics), text);
    }
}
