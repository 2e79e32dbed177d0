//! The conformance report: a table on stdout (scenario, spec sections,
//! verdict, duration) and a JSON file with every result and the wire log of
//! each failure. Formatting only.

use std::path::Path;

use serde::Serialize;

use crate::runner::Outcome;
use crate::script::Scenario;

/// One row of the report.
#[derive(Debug, Serialize)]
pub struct Row {
    pub scenario: String,
    pub origin: String,
    pub spec: Vec<String>,
    pub verdict: &'static str,
    pub duration_ms: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wire_log: Vec<String>,
}

impl Row {
    /// The row for a scenario that did not run, and why.
    pub fn skipped(s: &Scenario, why: &str) -> Row {
        Row {
            scenario: s.name.clone(),
            origin: s.origin.clone(),
            spec: s.spec.clone(),
            verdict: "skip",
            duration_ms: 0,
            error: None,
            wire_log: vec![why.to_owned()],
        }
    }

    /// Why a skipped scenario did not run (its only wire-log line).
    pub fn why(&self) -> &str {
        self.wire_log.first().map_or("", String::as_str)
    }

    /// The row for a scenario's outcome; the wire log is kept for failures.
    pub fn new(s: &Scenario, o: Outcome) -> Row {
        let failed = o.error.is_some();
        Row {
            scenario: s.name.clone(),
            origin: s.origin.clone(),
            spec: s.spec.clone(),
            verdict: if failed { "FAIL" } else { "pass" },
            duration_ms: o.duration.as_millis(),
            error: o.error,
            wire_log: if failed { o.wire_log } else { Vec::new() },
        }
    }
}

/// The table, as printed.
pub fn table(rows: &[Row]) -> String {
    let w = rows
        .iter()
        .map(|r| r.scenario.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!(
        "{:<w$}  {:<22}  {:<7}  {:>8}\n",
        "scenario", "spec", "verdict", "ms"
    );
    out.push_str(&format!("{}\n", "-".repeat(w + 45)));
    for r in rows {
        out.push_str(&format!(
            "{:<w$}  {:<22}  {:<7}  {:>8}\n",
            r.scenario,
            r.spec.join(" "),
            r.verdict,
            r.duration_ms
        ));
    }
    for r in rows.iter().filter(|r| r.error.is_some()) {
        out.push_str(&format!(
            "\nFAILED {} ({}): {}\n",
            r.scenario,
            r.origin,
            r.error.as_deref().unwrap_or("")
        ));
        for l in &r.wire_log {
            out.push_str(&format!("    {l}\n"));
        }
    }
    out
}

/// Writes the JSON report.
pub fn write_json(rows: &[Row], path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(rows).map_err(std::io::Error::other)?;
    std::fs::write(path, json)
}
