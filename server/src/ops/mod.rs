//! What the operator sees and runs: the metrics (and `/metrics`,
//! `/ready`), the state directory, `--background`, and the text form of
//! log fields. Used by any layer; knows none of them.
//!
//! May import: `event` (log text of names and times). Never a layer.

pub mod background;
pub mod log_text;
pub mod metrics;
pub mod state_dir;
