//! `plugin run --expect FILE`: does the run's JSON form say what the file says?
//!
//! The file is in the `--json` form, so the output of one run can be saved and
//! checked against later runs. Only what the file gives is compared: an object
//! in it may leave keys out (`{"filter": {"verdict": "drop"}}` is a whole test),
//! while a value it gives, and every array, must match exactly. The top-level
//! `timing` is never compared, as it differs from run to run.

use serde_json::Value;

/// Each place where `actual` differs from `expected`, as `path: expected X, got Y`.
pub fn differences(expected: &Value, actual: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match expected.as_object() {
        Some(fields) => {
            for (key, want) in fields.iter().filter(|(key, _)| *key != "timing") {
                compare(want, actual.get(key), key, &mut found);
            }
        }
        None => compare(expected, Some(actual), "", &mut found),
    }
    found
}

fn compare(expected: &Value, actual: Option<&Value>, path: &str, found: &mut Vec<String>) {
    let Some(actual) = actual else {
        found.push(format!("{path}: expected {expected}, got nothing"));
        return;
    };
    match (expected, actual) {
        (Value::Object(want), Value::Object(_)) => {
            for (key, value) in want {
                compare(value, actual.get(key), &format!("{path}.{key}"), found);
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (at, (want, got)) in want.iter().zip(got).enumerate() {
                compare(want, Some(got), &format!("{path}[{at}]"), found);
            }
        }
        (Value::Array(want), Value::Array(got)) => found.push(format!(
            "{path}: expected {} items, got {}: {actual}",
            want.len(),
            got.len()
        )),
        (Value::String(want), Value::String(got)) if want != got => {
            found.push(format!("{path}: {}", string_difference(want, got)));
        }
        _ if expected != actual => found.push(format!("{path}: expected {expected}, got {actual}")),
        _ => {}
    }
}

/// Characters shown on each side of where two long strings part.
const CONTEXT: usize = 24;

/// Where two strings (a body, say) first differ, with a little of each around
/// it, one above the other.
fn string_difference(want: &str, got: &str) -> String {
    if want.chars().count() <= 2 * CONTEXT && got.chars().count() <= 2 * CONTEXT {
        return format!("expected {want:?}, got {got:?}");
    }
    let at = (want.chars().zip(got.chars()))
        .take_while(|(a, b)| a == b)
        .count();
    let start = at.saturating_sub(CONTEXT);
    let excerpt = |text: &str| {
        let piece = text.chars().skip(start).take(2 * CONTEXT);
        // Control characters escaped, so the excerpt stays on its line.
        let piece = piece.flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        });
        let more = text.chars().count() > start + 2 * CONTEXT;
        let (before, after) = (
            if start > 0 { "…" } else { "" },
            if more { "…" } else { "" },
        );
        format!("{before}{}{after}", piece.collect::<String>())
    };
    format!(
        "first difference at character {at}:\n    expected {}\n    got      {}",
        excerpt(want),
        excerpt(got)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_the_file_gives_is_compared_and_timing_never() {
        let actual = json!({
            "filter": {"verdict": "keep"},
            "logs": [],
            "timing": {"load_ms": 3.2},
        });
        let expected = json!({"filter": {"verdict": "keep"}, "timing": {"load_ms": 1.0}});
        assert!(differences(&expected, &actual).is_empty());
        assert!(differences(&actual, &actual).is_empty());
    }

    #[test]
    fn each_difference_is_named_by_its_path() {
        let actual = json!({
            "filter": {"verdict": "keep"},
            "logs": [{"level": "debug", "message": "a"}],
        });
        let expected = json!({
            "filter": {"verdict": "drop"},
            "transform": {"verdict": "unchanged"},
            "logs": [{"level": "info"}],
        });
        assert_eq!(
            differences(&expected, &actual),
            [
                r#"filter.verdict: expected "drop", got "keep""#,
                r#"logs[0].level: expected "info", got "debug""#,
                r#"transform: expected {"verdict":"unchanged"}, got nothing"#,
            ]
        );
        let long = |amount: &str| json!({"body": format!(r#"{{"id":"evt_1","type":"order.paid","data":{{"amount":{amount}}}}}"#)});
        assert_eq!(
            differences(&long("4200"), &long(r#""[redacted]""#)),
            [concat!(
                "body: first difference at character 51:\n",
                r#"    expected ….paid","data":{"amount":4200}}"#,
                "\n",
                r#"    got      ….paid","data":{"amount":"[redacted]"}}"#,
            )]
        );
        let more = json!({"logs": []});
        assert_eq!(
            differences(&more, &actual),
            [r#"logs: expected 0 items, got 1: [{"level":"debug","message":"a"}]"#]
        );
    }
}
