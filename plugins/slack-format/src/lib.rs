//! A Switchyard transform plugin that turns an event into a Slack
//! incoming-webhook message: a line of text from a template, and a section
//! of labelled fields picked from the body by JSON pointers.
//!
//! Config: `{"text": "New {type} event {id}", "fields": {"Amount":
//! "/data/amount"}}`. Output: `{"text": ..., "blocks": [text section,
//! fields sections]}`, within Slack's limits (3000 characters of section
//! text, 10 fields of 2000 characters per section).

mod fields;
mod mrkdwn;
mod template;

use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_plugin_sdk::{Event, Plugin, Transform, Transformed, export_transform};

use fields::Fields;
use template::Template;

/// The most characters Slack takes in a section's text.
const SECTION_TEXT_MAX: usize = 3000;
/// The most fields Slack takes in one section.
const FIELDS_PER_SECTION: usize = 10;

/// Formats events as Slack messages.
#[derive(Debug)]
struct SlackFormat {
    text: Template,
    fields: Fields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_text")]
    text: String,
    #[serde(default)]
    fields: Fields,
}

fn default_text() -> String {
    "{type} {id}".to_string()
}

impl Plugin for SlackFormat {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(SlackFormat {
            text: Template::parse(&config.text).map_err(|e| format!("`text`: {e}"))?,
            fields: config.fields,
        })
    }
}

impl Transform for SlackFormat {
    fn transform(&self, event: &Event) -> Result<Transformed, String> {
        Ok(Transformed::replace_json(&self.message(event)?))
    }
}

impl SlackFormat {
    /// The Slack message for `event`.
    fn message(&self, event: &Event) -> Result<Value, String> {
        let text = self.text.render(event);
        let mut blocks = Vec::new();
        if !text.trim().is_empty() {
            let shown = mrkdwn::truncate(&text, SECTION_TEXT_MAX);
            blocks.push(json!({"type": "section", "text": mrkdwn::text(&shown)}));
        }
        let fields = self.fields.render(event)?;
        for chunk in fields.chunks(FIELDS_PER_SECTION) {
            let chunk: Vec<Value> = chunk.iter().map(|field| mrkdwn::text(field)).collect();
            blocks.push(json!({"type": "section", "fields": chunk}));
        }
        Ok(json!({"text": text, "blocks": blocks}))
    }
}

export_transform!(SlackFormat);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::{Replacement, load};

    fn event() -> Event {
        let body = json!({"data": {"amount": 4200, "customer": {"email": "a@b.c"}}});
        Event {
            id: "evt_1".into(),
            webhook_id: "wh_1".into(),
            sender: "shop".into(),
            ..Event::new("order.paid", body.to_string())
        }
    }

    fn format(config: Value, event: &Event) -> Value {
        let plugin: SlackFormat = load(&config.to_string()).unwrap();
        match plugin.transform(event).unwrap() {
            Transformed::Replaced(Replacement {
                body,
                event_type: None,
                headers,
            }) => {
                assert!(headers.is_empty());
                serde_json::from_slice(&body).unwrap()
            }
            other => panic!("expected a replaced body, got {other:?}"),
        }
    }

    #[test]
    fn text_and_fields() {
        let config = json!({
            "text": "New {type} event {id}",
            "fields": {"Amount": "/data/amount", "Customer": "/data/customer/email", "Plan": "/data/plan"}
        });
        let expected = json!({
            "text": "New order.paid event evt_1",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "New order.paid event evt_1"}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Amount*\n4200"},
                    {"type": "mrkdwn", "text": "*Customer*\na@b.c"}
                ]}
            ]
        });
        assert_eq!(format(config, &event()), expected);
    }

    #[test]
    fn defaults_to_type_and_id_without_fields() {
        let expected = json!({
            "text": "order.paid evt_1",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "order.paid evt_1"}}]
        });
        assert_eq!(format(json!({}), &event()), expected);
    }

    #[test]
    fn omits_the_fields_block_when_no_field_resolves() {
        let config = json!({"text": "{sender} via {webhook}", "fields": {"Plan": "/data/plan"}});
        let message = format(config, &event());
        assert_eq!(message["text"], "shop via wh_1");
        assert_eq!(message["blocks"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn splits_fields_ten_to_a_section() {
        let fields: Vec<Value> = (0..12)
            .map(|i| json!({"label": format!("F{i}"), "pointer": "/data/amount"}))
            .collect();
        let message = format(json!({"fields": fields}), &event());
        let sections = message["blocks"].as_array().unwrap();
        assert_eq!(sections.len(), 3);
        assert_eq!(sections[1]["fields"].as_array().map(Vec::len), Some(10));
        assert_eq!(sections[2]["fields"][1]["text"], "*F11*\n4200");
    }

    #[test]
    fn truncates_the_section_text() {
        let mut long = event();
        long.id = "x".repeat(5000);
        let message = format(json!({"text": "{id}"}), &long);
        assert_eq!(message["text"].as_str().map(str::len), Some(5000));
        let shown = message["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(shown.chars().count(), SECTION_TEXT_MAX);
    }

    #[test]
    fn fields_need_a_json_body() {
        let plugin: SlackFormat = load(r#"{"fields": {"A": "/a"}}"#).unwrap();
        assert!(plugin.transform(&Event::new("x", "not json")).is_err());
        let plugin: SlackFormat = load("{}").unwrap();
        assert!(plugin.transform(&Event::new("x", "not json")).is_ok());
    }

    #[test]
    fn config_errors() {
        let error = |config: Value| load::<SlackFormat>(&config.to_string()).unwrap_err();
        assert!(error(json!({"text": "{nope}"})).starts_with("`text`: unknown placeholder"));
        assert!(error(json!({"fields": {"A": "a"}})).contains("invalid JSON pointer"));
        assert!(error(json!({"fields": "A"})).contains("invalid type"));
        assert!(error(json!({"txt": "x"})).contains("unknown field"));
    }
}
