//! Attack-defense drills: a drill file says what a replay should detect; the replay's alerts
//! are scored against it (detected or missed, time to detect, noise, ATT&CK tactic coverage)
//! and written as a Markdown and/or JSON report. Also the ATT&CK coverage of a rule set
//! (`vigil rules coverage`).

pub mod attack;
pub mod collect;
pub mod coverage;
pub mod render;
pub mod score;
pub mod spec;

pub use collect::Collect;
pub use coverage::Coverage;
pub use render::WriteError;
pub use score::{score, Fired, Report};
pub use spec::{Drill, DrillError, Expectation, Level, Window};
