//! `cargo test -p conformance [-- FILTER]`: runs every scenario in
//! `conformance/scenarios/` against the real binaries, prints the table,
//! writes `target/conformance/report.json`, and fails if any scenario fails.

use std::process::ExitCode;

use conformance::binaries::{build, target_dir, workspace_root};
use conformance::irc_library;
use conformance::redis;
use conformance::report::{Row, table, write_json};
use conformance::runner;
use conformance::script::StepKind;
use conformance::script::load_dir;

fn main() -> ExitCode {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let bins = match build() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scenarios = match load_dir(&workspace_root().join("conformance/scenarios")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out_dir = target_dir().join("conformance");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("conformance: {}: {e}", out_dir.display());
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let redis_missing = redis::find().is_none();
    let irc_library_missing = irc_library::find().is_none();
    let mut rows = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        if filter
            .as_deref()
            .is_some_and(|f| !s.name.contains(f) && !s.origin.contains(f))
        {
            continue;
        }
        if s.cluster.is_some() && redis_missing && !redis::required() {
            rows.push(Row::skipped(s, "redis-server is not installed"));
            continue;
        }
        let spawns_irc_library = s
            .steps
            .iter()
            .any(|step| matches!(step.kind, StepKind::SpawnIrcLibrary { .. }));
        if spawns_irc_library && irc_library_missing && !irc_library::required() {
            rows.push(Row::skipped(
                s,
                "no Python with the `irc` package (set TAGARELA_IRC_PYTHON)",
            ));
            continue;
        }
        let log = out_dir.join(format!("server-{i:03}.log"));
        let outcome = runtime.block_on(runner::run(s, &bins, &log));
        rows.push(Row::new(s, outcome));
    }
    print!("{}", table(&rows));
    let report = out_dir.join("report.json");
    if let Err(e) = write_json(&rows, &report) {
        eprintln!("conformance: cannot write {}: {e}", report.display());
    }
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let skipped: Vec<&Row> = rows.iter().filter(|r| r.verdict == "skip").collect();
    println!("report: {}", report.display());
    println!(
        "conformance: {} passed, {failed} failed, {} skipped",
        rows.len() - failed - skipped.len(),
        skipped.len()
    );
    if !skipped.is_empty() {
        println!(
            "conformance: NOT RUN (apt-get install redis-server runs the cluster ones, {}=1 makes its absence a failure; pip install irc runs the IRC library's, {}=1 likewise):",
            redis::REQUIRE_REDIS,
            irc_library::REQUIRE_IRC_LIBRARY
        );
        for r in &skipped {
            println!("    {} ({}): {}", r.scenario, r.origin, r.why());
        }
    }
    if rows.is_empty() {
        eprintln!("conformance: no scenario ran");
        return ExitCode::FAILURE;
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
