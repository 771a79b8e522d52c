//! One rule: a JSON pointer into the body, an operator, and an operand.
//!
//! - `==`, `!=`: the value equals (does not equal) `value`, of any JSON type.
//!   Numbers compare numerically (`1 == 1.0`); nothing is coerced (`"1"` is
//!   not `1`).
//! - `>`, `>=`, `<`, `<=`: `value` is a number, and so must the value be.
//! - `in`, `not_in`: `value` is an array; the value is (is not) one of its
//!   elements, compared as for `==`.
//! - `exists`, `missing`: the pointer resolves (does not resolve); no `value`.
//!
//! A pointer that resolves to nothing makes every rule false but `missing`.

use std::cmp::Ordering;

use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};
use switchyard_plugin_sdk::Pointer;

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pointer: Pointer,
    check: Check,
}

/// What a rule tests the value at its pointer for.
#[derive(Debug, Clone, PartialEq)]
enum Check {
    Equal(Value),
    NotEqual(Value),
    Order(Op, Number),
    OneOf(Vec<Value>),
    NoneOf(Vec<Value>),
    Exists,
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Op {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not_in")]
    NotIn,
    #[serde(rename = "exists")]
    Exists,
    #[serde(rename = "missing")]
    Missing,
}

/// A rule as written in the config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    pointer: Pointer,
    op: Op,
    /// `Some(Value::Null)` for `"value": null`, `None` when there is no key.
    #[serde(default, deserialize_with = "present")]
    value: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Rule {
    /// Checks one rule from the config.
    pub fn parse(raw: &Value) -> Result<Rule, String> {
        let raw = RawRule::deserialize(raw).map_err(|e| e.to_string())?;
        Ok(Rule {
            pointer: raw.pointer,
            check: Check::new(raw.op, raw.value)?,
        })
    }

    /// Whether the rule holds for `body`.
    pub fn holds(&self, body: &Value) -> bool {
        let found = self.pointer.get(body);
        match (&self.check, found) {
            (Check::Missing, found) => found.is_none(),
            (_, None) => false,
            (Check::Exists, Some(_)) => true,
            (Check::Equal(operand), Some(value)) => same(value, operand),
            (Check::NotEqual(operand), Some(value)) => !same(value, operand),
            (Check::Order(op, operand), Some(value)) => ordered(*op, value, operand),
            (Check::OneOf(operands), Some(value)) => operands.iter().any(|o| same(value, o)),
            (Check::NoneOf(operands), Some(value)) => !operands.iter().any(|o| same(value, o)),
        }
    }
}

impl Check {
    /// Pairs `op` with its operand, if it is the kind `op` takes.
    fn new(op: Op, value: Option<Value>) -> Result<Check, String> {
        let name = op.name();
        match (op, value) {
            (Op::Exists, None) => Ok(Check::Exists),
            (Op::Missing, None) => Ok(Check::Missing),
            (Op::Exists | Op::Missing, Some(_)) => Err(format!("`{name}` takes no `value`")),
            (_, None) => Err(format!("`{name}` needs a `value`")),
            (Op::Eq, Some(value)) => Ok(Check::Equal(value)),
            (Op::Ne, Some(value)) => Ok(Check::NotEqual(value)),
            (Op::In, Some(Value::Array(values))) => Ok(Check::OneOf(values)),
            (Op::NotIn, Some(Value::Array(values))) => Ok(Check::NoneOf(values)),
            (Op::In | Op::NotIn, Some(_)) => Err(format!("`{name}` needs an array `value`")),
            (_, Some(Value::Number(number))) => Ok(Check::Order(op, number)),
            (_, Some(_)) => Err(format!("`{name}` needs a number `value`")),
        }
    }
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Exists => "exists",
            Op::Missing => "missing",
        }
    }

    /// Whether `value <op> operand` holds, given how the two compare.
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Op::Gt => ordering == Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            _ => false,
        }
    }
}

/// Equality as `==` means it: numbers by value, everything else exactly.
fn same(value: &Value, operand: &Value) -> bool {
    match (value, operand) {
        (Value::Number(a), Value::Number(b)) => compare(a, b) == Some(Ordering::Equal),
        _ => value == operand,
    }
}

fn ordered(op: Op, value: &Value, operand: &Number) -> bool {
    match value {
        Value::Number(number) => compare(number, operand).is_some_and(|o| op.accepts(o)),
        _ => false,
    }
}

/// Compares two numbers exactly when both are integers, else as `f64`.
fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn integer(number: &Number) -> Option<i128> {
    (number.as_i64().map(i128::from)).or_else(|| number.as_u64().map(i128::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(config: Value) -> Rule {
        Rule::parse(&config).unwrap()
    }

    fn holds(config: Value, body: Value) -> bool {
        rule(config).holds(&body)
    }

    fn error(config: Value) -> String {
        Rule::parse(&config).unwrap_err()
    }

    #[test]
    fn equality_compares_numbers_by_value() {
        let eq = json!({"pointer": "/n", "op": "==", "value": 1});
        assert!(holds(eq.clone(), json!({"n": 1})));
        assert!(holds(eq.clone(), json!({"n": 1.0})));
        assert!(!holds(eq.clone(), json!({"n": "1"})));
        assert!(!holds(eq, json!({"n": 2})));
        let big = json!({"pointer": "/n", "op": "==", "value": u64::MAX});
        assert!(!holds(big, json!({"n": u64::MAX - 1})));
    }

    #[test]
    fn equality_compares_other_types_exactly() {
        let eq = |value: Value| json!({"pointer": "/v", "op": "==", "value": value});
        assert!(holds(eq(json!("pro")), json!({"v": "pro"})));
        assert!(!holds(eq(json!("pro")), json!({"v": "Pro"})));
        assert!(holds(eq(json!(null)), json!({"v": null})));
        assert!(holds(eq(json!(true)), json!({"v": true})));
        assert!(holds(eq(json!(["a"])), json!({"v": ["a"]})));
        assert!(!holds(eq(json!(null)), json!({})));
    }

    #[test]
    fn inequality_is_false_when_nothing_resolves() {
        let ne = json!({"pointer": "/v", "op": "!=", "value": "x"});
        assert!(holds(ne.clone(), json!({"v": "y"})));
        assert!(holds(ne.clone(), json!({"v": 1})));
        assert!(!holds(ne.clone(), json!({"v": "x"})));
        assert!(!holds(ne, json!({})));
    }

    #[test]
    fn ordering_operators() {
        let cases = [
            (">", 100, [false, false, true]),
            (">=", 100, [false, true, true]),
            ("<", 100, [true, false, false]),
            ("<=", 100, [true, true, false]),
        ];
        for (op, operand, expected) in cases {
            let config = json!({"pointer": "/n", "op": op, "value": operand});
            let got = [99.5, 100.0, 101.0].map(|n| holds(config.clone(), json!({"n": n})));
            assert_eq!(got, expected, "{op}");
        }
    }

    #[test]
    fn ordering_needs_a_number_on_both_sides() {
        let gt = json!({"pointer": "/n", "op": ">", "value": 1});
        assert!(!holds(gt.clone(), json!({"n": "5"})));
        assert!(!holds(gt, json!({})));
        let err = error(json!({"pointer": "/n", "op": ">", "value": "5"}));
        assert_eq!(err, "`>` needs a number `value`");
    }

    #[test]
    fn in_and_not_in() {
        let is_in = json!({"pointer": "/p", "op": "in", "value": ["pro", "team", 3]});
        assert!(holds(is_in.clone(), json!({"p": "team"})));
        assert!(holds(is_in.clone(), json!({"p": 3.0})));
        assert!(!holds(is_in.clone(), json!({"p": "free"})));
        assert!(!holds(is_in, json!({})));
        let not_in = json!({"pointer": "/p", "op": "not_in", "value": ["pro"]});
        assert!(holds(not_in.clone(), json!({"p": "free"})));
        assert!(!holds(not_in.clone(), json!({"p": "pro"})));
        assert!(!holds(not_in, json!({})));
        let err = error(json!({"pointer": "/p", "op": "in", "value": "pro"}));
        assert_eq!(err, "`in` needs an array `value`");
    }

    #[test]
    fn exists_and_missing() {
        let exists = json!({"pointer": "/a/0", "op": "exists"});
        assert!(holds(exists.clone(), json!({"a": [null]})));
        assert!(!holds(exists.clone(), json!({"a": []})));
        let missing = json!({"pointer": "/a/0", "op": "missing"});
        assert!(holds(missing.clone(), json!({"a": []})));
        assert!(!holds(missing, json!({"a": [0]})));
        let err = error(json!({"pointer": "/a", "op": "exists", "value": true}));
        assert_eq!(err, "`exists` takes no `value`");
    }

    #[test]
    fn malformed_rules() {
        assert_eq!(
            error(json!({"pointer": "/a", "op": "=="})),
            "`==` needs a `value`"
        );
        assert!(error(json!({"op": "exists"})).contains("missing field `pointer`"));
        assert!(error(json!({"pointer": "/a", "op": "exists", "x": 1})).contains("unknown field"));
        assert!(error(json!("exists")).contains("invalid type"));
    }
}
