//! The rule pack shipped in `rules/`, embedded at build time (see `build.rs`): the default
//! rules of `vigil run` and `vigil replay` when no `--rules` is given.

use std::path::Path;

use super::ruleset::{LoadOptions, LoadReport, RuleSet};

include!(concat!(env!("OUT_DIR"), "/bundled_rules.rs"));

/// Loads the embedded rules. They are tested in CI, so an error here is a build defect; it
/// is still reported, never ignored.
pub fn load(opts: &LoadOptions) -> Result<RuleSet, LoadReport> {
    let sources: Vec<(&Path, &str)> = BUNDLED.iter().map(|(p, t)| (Path::new(*p), *t)).collect();
    let (set, report) = RuleSet::from_sources(&sources, opts);
    if report.errors.is_empty() {
        Ok(set)
    } else {
        Err(report)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_rules_load() {
        let set = super::load(&super::LoadOptions::default()).unwrap_or_else(|r| panic!("{r}"));
        // A file may hold several rules (a detection and its correlation).
        assert!(set.len() >= super::BUNDLED.len());
        assert!(!super::BUNDLED.is_empty());
    }
}
