//! Support code for the project's own tasks (`cargo xtask ...`): the messy-record generator the
//! benches feed on, the reader of the rules table in `docs/rules.md`, and the parser of
//! `cargo test` summary lines that `cargo xtask ci` totals.
//!
//! It lives in a library so the task binary, the bench and the tests share one copy.

pub mod messy;
pub mod rules_doc;
pub mod test_counts;
