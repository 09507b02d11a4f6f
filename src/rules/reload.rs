//! placeholder
pub struct RuleStore;
