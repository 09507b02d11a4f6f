//! Sigma rules: parsing (with line numbers), compilation to id-resolved matchers behind a
//! literal prefilter, evaluation, Sigma 2.0 correlations, suppression, rule tests and the
//! `vigil rules` commands. `rules/README.md` documents the format and vigil's extensions.

mod alert;
pub mod bundled;
mod cidr;
pub mod cli;
mod compile;
pub mod condition;
mod correlation;
mod engine;
mod eval;
mod fieldmap;
mod matcher;
mod modifier;
mod parse;
mod prefilter;
mod reload;
mod ruleset;
mod suppress;
pub mod test_events;
mod yaml;

pub use alert::{Alert, CorrelationHit, INGEST_TENANT};
pub use engine::Engine;
pub use parse::{parse_timespan, RuleLogSource, SuppressionSpec};
pub use reload::{RuleStore, Watcher};
pub use ruleset::{
    applies, parse_logsource_spec, rule_files, LoadIssue, LoadOptions, LoadReport, RuleInfo,
    RuleKind, RuleSet,
};

/// Parses a rule file's text without loading it (the fuzz target of the rule loader).
pub fn check_source(text: &str) -> Result<usize, LoadReport> {
    let (set, report) = RuleSet::from_sources(
        &[(std::path::Path::new("<input>"), text)],
        &LoadOptions::default(),
    );
    if report.errors.is_empty() {
        Ok(set.len())
    } else {
        Err(report)
    }
}

#[cfg(test)]
mod tests;
