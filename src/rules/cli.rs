//! `vigil rules check | test | list`: what administrators run while writing and tuning rules.
//! Each prints to stdout (problems to stderr) and returns the process exit code.

use std::path::PathBuf;
use std::sync::Arc;

use super::ruleset::{LoadOptions, RuleKind, RuleSet};
use super::test_events;

/// Prints `N rules loaded`, then one line per problem (`file:line: reason; did you mean ...`).
/// Exit code 0 when everything loads, 1 otherwise.
pub fn check(paths: &[PathBuf]) -> i32 {
    check_with(paths, &LoadOptions::default())
}

pub fn check_with(paths: &[PathBuf], opts: &LoadOptions) -> i32 {
    let (set, report) = RuleSet::load_lenient(paths, opts);
    println!("{} rules loaded", set.len());
    for e in &report.errors {
        println!("{e}");
    }
    for w in &report.warnings {
        println!("{w} (warning)");
    }
    if report.errors.is_empty() {
        0
    } else {
        1
    }
}

/// Runs the test cases shipped beside rules (`NAME.tests.yml`). Exit code 0 when all pass.
pub fn test(paths: &[PathBuf]) -> i32 {
    test_with(paths, &LoadOptions::default())
}

/// [`test`] with load options (indicator lists, suppression).
pub fn test_with(paths: &[PathBuf], opts: &LoadOptions) -> i32 {
    let set = match RuleSet::load(paths, opts) {
        Ok(s) => Arc::new(s),
        Err(report) => {
            eprintln!("rules do not load; fix these first:");
            eprint!("{report}");
            return 1;
        }
    };
    let files = test_events::test_files(paths);
    let (mut total, mut failed) = (0, 0);
    for f in files {
        let cases = match std::fs::read_to_string(&f)
            .map_err(|e| format!("{}: {e}", f.display()))
            .and_then(|t| test_events::parse_cases(&f, &t))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
                total += 1;
                continue;
            }
        };
        for case in cases {
            total += 1;
            let o = test_events::run_case(&set, &case);
            if o.passed {
                println!("ok   {}:{} {}", case.file.display(), case.line, case.name);
            } else {
                failed += 1;
                println!(
                    "FAIL {}:{} {}: {}",
                    case.file.display(),
                    case.line,
                    case.name,
                    o.detail
                );
            }
        }
    }
    println!("{total} tests, {} passed, {failed} failed", total - failed);
    i32::from(failed > 0)
}

/// Lists loaded rules: id, kind, level, logsource, title.
pub fn list(paths: &[PathBuf]) -> i32 {
    list_with(paths, &LoadOptions::default())
}

/// [`list`] with load options (indicator lists).
pub fn list_with(paths: &[PathBuf], opts: &LoadOptions) -> i32 {
    let (set, report) = RuleSet::load_lenient(paths, opts);
    print_list(&set);
    if !report.errors.is_empty() {
        eprintln!(
            "{} problem(s); run `vigil rules check` for details",
            report.errors.len()
        );
        return 1;
    }
    0
}

/// One line per rule: id, kind, level, logsource, title.
pub fn print_list(set: &RuleSet) {
    for r in set.rules() {
        let ls = [
            &r.logsource.category,
            &r.logsource.product,
            &r.logsource.service,
        ]
        .iter()
        .filter_map(|x| x.as_deref())
        .collect::<Vec<_>>()
        .join("/");
        let kind = match r.kind {
            RuleKind::Detection => "detection",
            RuleKind::Correlation => "correlation",
            RuleKind::Filter => "filter",
        };
        println!(
            "{}\t{kind}\t{}\t{}\t{}",
            r.id,
            r.level,
            if ls.is_empty() { "-" } else { &ls },
            r.title
        );
    }
}
