//! A durable relay for Truecaller's Call Personalisation Batch v2 API: producers (a dialer, a
//! CRM) post call records one at a time as calls are decided; the relay answers once the
//! records are on disk, and sends them in batches of up to 500, filling every request the
//! account's rate limit allows. `tcbatch serve` runs it.
//!
//! - [`Relay::start`] opens the SQLite store (WAL, synchronous writes, one group commit for
//!   the posts that arrive together), resumes what the last run left in flight with tc-push's
//!   rules for unknown outcomes ([`tc_engine::Guarantee`]), and starts the sender and the
//!   delivery poller;
//! - [`Relay::router`] is the HTTP API: `POST /v1/call-records`, `GET /v1/call-records/{id}`,
//!   `/healthz`, `/readyz`, `/metrics`, `/openapi.json`;
//! - [`Relay::serve`] serves it until a shutdown signal, then finishes what is in flight: on a
//!   tokio `TcpListener` as plain HTTP, or on a [`TlsListener`] as HTTPS with a certificate and
//!   key read by [`TlsConfig`].
//!
//! Records are read and validated exactly as `tcbatch validate` reads and validates them
//! (tc-core's [`tc_core::Validator`]), and invalid ones are answered at once with the same
//! diagnostics. The relay sends through [`tc_http::Client`], which keeps to the API's limits.
//!
//! ```no_run
//! use std::sync::Arc;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = tc_http::ClientBuilder::from_env().build()?;
//! let config = tc_relay::RelayConfig::new(std::path::Path::new("relay.db"));
//! let relay = tc_relay::Relay::start(config, client, Arc::new(tc_http::SystemClock)).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
//! relay.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

mod api;
mod config;
mod delivery;
mod error;
mod health;
mod intake;
mod keys;
mod lease;
mod metrics;
mod openapi;
mod refusal;
mod relay;
mod schema;
mod sender;
mod status;
mod store;
mod tls;

pub use api::{IDEMPOTENCY_KEY, MAX_BODY_BYTES};
pub use config::{
    RelayConfig, DEFAULT_DRAIN, DEFAULT_IN_FLIGHT_PER_TOKEN, DEFAULT_KEY_RETENTION, DEFAULT_LEASE,
    DEFAULT_LINGER, DEFAULT_QUEUE_LIMIT,
};
pub use delivery::SATURATED_POLL_WINDOWS;
pub use error::Error;
pub use intake::{Problem, EXTERNAL_ID_KEY, MAX_EXTERNAL_ID_CHARS};
pub use keys::{InvalidKeyDigest, KeyDigest, NoProducerKeys, ProducerKeys};
pub use relay::Relay;
pub use status::{InvalidRecordId, InvalidRecordState, RecordId, RecordState, TrackedRecord};
pub use store::{
    Accepted, InvalidStoreLocation, PostAnswer, PostgresUrl, Recovered, Sharing, StoreLocation,
};
pub use tls::{PemOrigin, TlsConfig, TlsError, TlsListener, DEFAULT_HANDSHAKE_TIMEOUT};
