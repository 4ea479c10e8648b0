//! The configuration reference in `docs/configuration.md` names every key `etraq.toml` accepts,
//! so a key added to the code without its documentation fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use etraq_core::Config;

/// Every key path of a configuration with every optional section present.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else if prefix == "departments" {
                    // Department names are the user's own.
                    "departments.NAME".to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                if child.is_object() && !child.as_object().unwrap().is_empty() {
                    key_paths(child, &path, out);
                } else {
                    out.push(path);
                }
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn every_configuration_key_is_documented() {
    let business_hours = r#"
        weekdays = ["mon"]
        start = "09:00"
        end = "17:00"
        holidays = ["2026-12-25"]
    "#;
    let toml = format!(
        r#"
        local_domains = ["example.com"]
        [upstream]
        host = "127.0.0.1"
        [escalation]
        reescalate_every = "1d"
        [escalation.business_hours]
        {business_hours}
        [departments.sales]
        prefix = "SALE"
        warn_after = "2h"
        escalate_after = "8h"
        reescalate_every = "8h"
        [departments.sales.business_hours]
        {business_hours}
        "#
    );
    let config = Config::from_toml(&toml, "etraq.toml".as_ref()).unwrap();
    let mut paths = Vec::new();
    key_paths(&serde_json::to_value(&config).unwrap(), "", &mut paths);
    assert!(paths.len() > 80, "{paths:?}");
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !doc.contains(&format!("`{p}`")))
        .filter(|p| {
            // A department's keys are documented once under `departments.NAME.KEY`; the
            // business-hours keys under `escalation.business_hours.KEY`.
            let tail = p.strip_prefix("departments.NAME.business_hours.");
            tail.is_none_or(|t| !doc.contains(&format!("`escalation.business_hours.{t}`")))
        })
        .collect();
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}
