//! The push engine: takes call records from any iterator, validates them with `tc-core`, packs
//! full batches, and sends them with `tc-http`, journaling every batch so that a push killed at
//! any moment can be resumed without losing a record or re-sending an acknowledged one; then
//! writes a report with exactly one answer per record.
//!
//! - [`Pusher::open`] creates or resumes the journal ([`journal`]) and holds its lock;
//! - [`Pusher::push`] validates, packs and sends, telling an [`Observer`] what happens;
//! - [`Pusher::poll_deliveries`] asks each accepted batch's delivery;
//! - [`Pusher::write_report`] rebuilds the report from the journal through the [`Ledger`], the
//!   same fold a resumed push reads; [`Pusher::start_report`] writes the same report while the
//!   push runs ([`LiveReport`]).
//!
//! The engine reads time only through the [`Clock`] it is given. It validates on every core
//! with [`ordered::map_ordered`], which `tcbatch validate` uses too.
//!
//! ```
//! use tc_core::RawRecord;
//! use tc_push::{Clock, Destination, Fingerprint, PushConfig, PushEnd, Pusher, SendOptions, SystemClock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = tc_sim::Simulator::start(tc_sim::SimConfig::demo()).await?;
//! let account = sim.config();
//! let client = tc_http::Client::builder()
//!     .base_url(sim.base_url())
//!     .client_account_id(account.client_account_id.as_str())
//!     .key_id(account.key_id.as_str())
//!     .api_key(account.api_key.clone())
//!     .build()?;
//!
//! // Two records a program holds in memory, calling within the next hour.
//! let now = SystemClock.now();
//! let (starts, ends) = (now.to_string(), now.plus(3_600_000).to_string());
//! let records: Vec<RawRecord> = ["+919876543211", "+919876543212"]
//!     .into_iter()
//!     .map(|receiver| {
//!         RawRecord::from_text_fields([
//!             ("caller_number", "+919876543210"),
//!             ("receiver_number", receiver),
//!             ("dynamic_label_name", "Centro Bank"),
//!             ("starts_at", starts.as_str()),
//!             ("ends_at", ends.as_str()),
//!         ])
//!     })
//!     .collect();
//!
//! let dir = tempfile::tempdir()?;
//! let options = SendOptions::new(
//!     Destination::Api { base_url: sim.base_url() },
//!     account.client_account_id.clone(),
//! );
//! // The fingerprint ties the journal to this input: any stable digest of it will do.
//! let fingerprint = Fingerprint::from_reader(format!("{records:?}").as_bytes())?;
//! let config = PushConfig::new(dir.path().join("journal"), fingerprint, options);
//! let mut pusher = Pusher::open(config, SystemClock)?;
//! let pushed = pusher.push(records, &client, ()).await?;
//! assert!(matches!(pushed.end, PushEnd::Finished { input_rows: 2 }));
//!
//! let tally = pusher.write_report(&dir.path().join("report.csv"), 2)?;
//! assert_eq!(tally.accepted, 2);
//! # sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod codes;
mod delivery;
mod error;
mod events;
mod input;
pub mod journal;
mod ledger;
mod live_report;
mod options;
pub mod ordered;
mod paths;
mod push;
mod rebuild;
mod report;

pub use codes::{OutcomeStatus, ReportCode, RowStatus};
pub use delivery::{Polled, POLL_EVERY};
pub use error::{Error, FileRole};
pub use events::{Event, Observer, StopReason};
pub use input::{InputRow, IntoRow};
pub use ledger::{Ledger, RowSet};
pub use live_report::LiveReport;
pub use options::{Destination, Fingerprint, SendOptions, StoredSoFar};
pub use paths::check_outputs;
pub use push::{
    BatchCounts, Guarantee, PushConfig, PushEnd, Pushed, Pusher, Resumed, Start, StopHandle,
};
pub use rebuild::{rebuild_report, Rebuilt, ReportOutput};
pub use report::{write_report, write_report_as, ReportFormat, ReportRow, Tally};
pub use tc_core::wire::DeliveryStatus;
/// Where the processes sharing an account keep its budget. In-process, the default, is no
/// coordinator: the push's client keeps the budget in its own memory. Several pushes and relays
/// on one account give their clients the same coordinator (`tc_redis::RedisCoordinator` over
/// Redis) through `tc_http::ClientBuilder::coordinator`.
pub use tc_http::Coordinator;
pub use tc_http::{Clock, SystemClock, TokioClock};
