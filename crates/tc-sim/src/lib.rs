//! A local simulator of Truecaller's Call Personalisation Batch v2 API, for tests and demos.
//!
//! It answers the documented endpoints (token, create call records, batch status under `/v2/` and
//! `/v3/`, labels) with the documented bodies, enforces the same rules as the real service (the
//! validation of `tc-core`, 1 to 500 records, 60 requests per minute per token, 10 token
//! creations per 30 minutes, 60-minute tokens), and can inject the faults a real push meets:
//! latency, 500s, 429 storms and connections dropped after the batch was stored. Everything it
//! stored and every status it answered can be read back, from Rust or from `GET /__sim/counters`
//! and `GET /__sim/records`, so tests can assert that nothing was lost or sent twice.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tc_sim::{SimConfig, Simulator};
//!
//! let sim = Simulator::start(SimConfig::demo()).await?;
//! assert!(sim.base_url().starts_with("http://127.0.0.1:"));
//! // ... point the client under test at sim.base_url() with sim.config()'s credentials ...
//! assert_eq!(sim.counters().records_stored, 0);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod create;
mod fault;
mod labels;
mod outcome;
mod routes;
mod server;
mod state;

pub use config::SimConfig;
pub use labels::demo_labels;
pub use outcome::{expected_outcome, expected_status};
pub use server::Simulator;
pub use state::{Counters, StoredRecord};

/// `docs/simulator.md`, included only when doc tests are collected, so the guide's library
/// example is compiled and run with the crate's tests and cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/simulator.md")]
pub struct UserGuide;
