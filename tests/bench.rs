//! The load harness in smoke mode, as CI runs it: `switchyard bench --smoke`
//! runs every scenario for a second or two against the real binary, and its
//! counts must be right, the per-second timelines' too. Speed is never asserted: a shared CI machine's figures
//! mean nothing; docs/performance.md has the real ones.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn count(scenario: &Value, name: &str) -> u64 {
    scenario["counts"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("{} has no count {name}: {scenario}", scenario["name"]))
}

#[test]
fn every_scenario_completes_with_the_right_counts() {
    let output = Command::new(BIN)
        .args(["bench", "--smoke", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench --smoke failed ({}):\n{stderr}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the report is not JSON ({e}); stderr:\n{stderr}"));
    assert_eq!(report["mode"], "smoke");
    assert!(!report["ceilings"].as_array().unwrap().is_empty());

    let scenarios = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ingest", "deliver", "plugins", "fanout", "retry", "backlog", "batch"
        ]
    );
    let by_name = |name: &str| scenarios.iter().find(|s| s["name"] == name).unwrap();
    for scenario in scenarios {
        let checks = scenario["checks"].as_array().unwrap();
        assert!(!checks.is_empty(), "{} checked nothing", scenario["name"]);
        for check in checks {
            assert_eq!(check["ok"], true, "{}: {}", scenario["name"], check["what"]);
        }
        assert!(
            scenario["peak_rss_mib"].as_f64().unwrap() > 0.0,
            "{} has no peak RSS",
            scenario["name"]
        );
    }

    // The counts behind the checks, asserted here too, so a check that stopped
    // checking would be noticed.
    assert!(count(by_name("ingest"), "accepted") > 0);
    assert!(count(by_name("batch"), "accepted").is_multiple_of(100));
    for name in ["deliver", "plugins", "retry"] {
        let scenario = by_name(name);
        assert!(count(scenario, "accepted") > 0, "{name} accepted nothing");
        assert_eq!(
            count(scenario, "delivered"),
            count(scenario, "accepted"),
            "{name}"
        );
        assert!(count(scenario, "signatures_verified") > 0, "{name}");
    }
    let plugins = by_name("plugins");
    assert_eq!(count(plugins, "filtered"), 9 * count(plugins, "accepted"));
    let retry = by_name("retry");
    assert_eq!(count(retry, "attempts"), count(retry, "expected_attempts"));
    assert_eq!(
        count(retry, "failed_first_attempts"),
        count(retry, "accepted").div_ceil(2)
    );
    let backlog = by_name("backlog");
    assert_eq!(count(backlog, "delivered"), 2000);
    assert!(backlog["figures"]["first_delivery_ms"].as_f64().is_some());

    // Every event to each of the hundred webhooks, once, read against the
    // delivery ceiling.
    let fanout = by_name("fanout");
    let accepted = count(fanout, "accepted");
    assert!(accepted > 0, "fanout accepted nothing");
    assert_eq!(count(fanout, "delivered"), 100 * accepted);
    assert_eq!(count(fanout, "fanned_out"), accepted);
    assert!(count(fanout, "signatures_verified") > 0);
    let ceiling = &report["delivery_ceiling"];
    assert!(
        ceiling["deliveries_per_s"].as_f64().unwrap() > 0.0,
        "{ceiling}"
    );
    assert!(fanout["phases"][0]["vs_ceiling"].as_f64().is_some());

    // Each phase with load has its timeline, second by second, and the
    // seconds' requests add up to the phase's.
    let phases = scenarios
        .iter()
        .flat_map(|s| s["phases"].as_array().unwrap());
    for phase in phases.chain(report["ceilings"].as_array().unwrap()) {
        let requests = phase["requests"].as_u64().unwrap();
        let timeline = phase["timeline"].as_array();
        let answered: u64 = (timeline.into_iter().flatten())
            .map(|second| second["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(answered, requests, "{}", phase["name"]);
        for second in timeline.into_iter().flatten() {
            let answered = second["requests"].as_u64().unwrap() > 0;
            assert_eq!(second["ack"]["p99_ms"].is_f64(), answered, "{second}");
        }
    }
    let delivering = &by_name("deliver")["phases"][0]["timeline"][0];
    assert!(delivering["delivered"].as_u64().is_some(), "{delivering}");
    // The store's commits ride beside the acks: every accepted event was
    // committed before its ack, and the timeline's reads come after the first acks.
    let deliver = by_name("deliver");
    for phase in deliver["phases"].as_array().unwrap() {
        let timeline = phase["timeline"].as_array().unwrap();
        let commits: f64 = (timeline.iter())
            .filter_map(|second| second["commits"].as_f64())
            .sum();
        assert!(commits >= 1.0, "{}: {timeline:?}", phase["name"]);
        assert!(commits <= deliver["figures"]["store_commits"].as_f64().unwrap());
    }
}
