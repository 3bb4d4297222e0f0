//! [`Client`]: the four endpoints over one shared transport (token pool, rate limiters, retry
//! policy) and the counters.

use crate::call::{Request, Unreadable};
use crate::clock::CallClock;
use crate::config::{millis, ClientBuilder, ClientConfig, StatusApi};
use crate::coordinator::Coordinator;
use crate::error::{Cause, ConfigError, Error};
use crate::leaving::CreateOptions;
use crate::secret::{AccessToken, Sealer};
use crate::stats::Stats;
use crate::stop::StopSignal;
use reqwest::{Method, Url};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tc_core::transport::MonotonicMillis;
use tc_core::transport::{Endpoint, PoolConfig, Transport, TransportConfig, WindowLimit};
use tc_core::wire::{BatchStatusResponse, CreateCallRecordsResponse, Label};
use tc_core::{Batch, BatchId};
use tc_engine::labels::{self, NextPage};
use tokio::sync::Notify;

/// A batch the API accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Created {
    /// The API's id of the batch, for [`Client::batch_status`].
    pub batch_id: BatchId,
    /// Attempts it took, the first included.
    pub attempts: u32,
    /// An earlier attempt had an unknown outcome and was re-sent: the server may hold this
    /// batch twice (once under an id this client never saw).
    pub possibly_duplicated: bool,
}

/// A client of the API. Cheap to clone; clones share tokens, limits, retry budget and stats,
/// so one client can serve many tasks at once.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub config: ClientConfig,
    pub base: Url,
    pub clock: CallClock,
    pub state: Mutex<State>,
    /// Woken whenever a token creation ends, for calls waiting on it.
    pub token_ready: Notify,
    /// The coordinator and the sealer of shared tokens, when the account is shared.
    pub shared: Option<Coordination>,
}

/// How a client shares its account with other processes: the coordinator it asks, and the
/// sealer its tokens cross to the coordinator under.
pub(crate) struct Coordination {
    pub coordinator: Arc<dyn Coordinator>,
    pub sealer: Sealer,
}

pub(crate) struct State {
    pub transport: Transport<AccessToken>,
    pub stats: Stats,
    /// While the coordinator is down, the question that failed: sending is paused until it
    /// is answered.
    pub coordinator_down: Option<crate::shared::Asked>,
    /// Shared tokens this client dropped after a 401: never taken back from the coordinator.
    pub retired_shared: crate::shared::RetiredIds,
}

impl Client {
    /// A builder: give it the credentials (or start from [`ClientBuilder::from_env`]), change
    /// what differs from the API's documented host and limits, and
    /// [`build`](ClientBuilder::build).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Builds the HTTP client for a checked configuration. Redirects are never followed: the
    /// credentials go to the configured origin only.
    pub(crate) fn from_config(config: ClientConfig) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout())
            .timeout(config.request_timeout())
            .user_agent(concat!("tc-http/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::HttpClient(Cause::new(e)))?;
        let state = State {
            transport: Transport::new(transport_config(&config)),
            stats: Stats::default(),
            coordinator_down: None,
            retired_shared: crate::shared::RetiredIds::default(),
        };
        let shared = config.coordinator().map(|coordinator| Coordination {
            coordinator: Arc::clone(coordinator),
            sealer: Sealer::new(
                config.key_id(),
                config.api_key(),
                config.client_account_id(),
            ),
        });
        let inner = Inner {
            http,
            base: config.url().clone(),
            config,
            clock: CallClock::start(),
            state: Mutex::new(state),
            token_ready: Notify::new(),
            shared,
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// What the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Whether the coordinator failed its last request: nothing is sent through it until it
    /// answers again. Always `false` without a coordinator.
    pub fn coordinator_down(&self) -> bool {
        self.lock().coordinator_down.is_some()
    }

    /// Counts since the client was made.
    pub fn stats(&self) -> Stats {
        let state = self.lock();
        let counts = state.transport.counts();
        Stats {
            retries: counts.attempts_after_first,
            rate_limited: counts.rate_limited,
            unauthorized: counts.unauthorized,
            ..state.stats.clone()
        }
    }

    /// Sends one batch (`POST /v2/clients/{id}/dynamic_call_records`), waiting for a token and
    /// for the rate limit as needed, and retrying what is safe to retry.
    ///
    /// Nothing about the batch is re-checked here, and the wait for the rate limit can be long:
    /// a caller whose records have a deadline uses [`Client::create_call_records_by`].
    ///
    /// # Errors
    /// An [`Error`] that says whether the batch may be stored all the same
    /// ([`Error::outcome_unknown`]).
    pub async fn create_call_records(&self, batch: &Batch) -> Result<Created, Error> {
        self.create_call_records_with(batch, CreateOptions::new())
            .await
    }

    /// [`Client::create_call_records`], but no attempt leaves later than `send_by` from now:
    /// past it the call ends with [`Error::SendByPassed`] instead of sending. Give the time
    /// until the earliest `ends_at` of the batch, so that waiting for the rate limit, a backoff
    /// or a token cannot carry a record past its window.
    ///
    /// # Errors
    /// As [`Client::create_call_records`], plus [`Error::SendByPassed`].
    pub async fn create_call_records_by(
        &self,
        batch: &Batch,
        send_by: Duration,
    ) -> Result<Created, Error> {
        let options = CreateOptions::new().send_by(send_by);
        self.create_call_records_with(batch, options).await
    }

    /// [`Client::create_call_records_by`], for a caller that may stop: once `stop` is given,
    /// the call ends at once if it is still waiting (for a token, its rate window, a backoff
    /// or the coordinator), with an error whose [`Error::outcome_unknown`] says whether an
    /// earlier attempt may have stored the batch; a request on the wire is answered first.
    ///
    /// # Errors
    /// As [`Client::create_call_records_by`], plus [`Error::GaveUp`] for a call `stop` ended.
    pub async fn create_call_records_until(
        &self,
        batch: &Batch,
        send_by: Duration,
        stop: &StopSignal,
    ) -> Result<Created, Error> {
        let options = CreateOptions::new().send_by(send_by).stop(stop);
        self.create_call_records_with(batch, options).await
    }

    /// [`Client::create_call_records`] as `options` say: a deadline for any request to leave,
    /// a stop signal, and a [`crate::Leaving`] told before the first request leaves (after
    /// which, and only after which, the batch may be stored).
    ///
    /// # Errors
    /// As [`Client::create_call_records_until`]; a call its [`crate::Leaving`] cancelled ends
    /// as a stopped one does ([`Error::GaveUp`], nothing of it sent).
    #[tracing::instrument(name = "create_call_records", skip_all, fields(records = batch.len()))]
    pub async fn create_call_records_with(
        &self,
        batch: &Batch,
        options: CreateOptions,
    ) -> Result<Created, Error> {
        let send_by = options.send_by.map(|d| self.now().plus(millis(d)));
        let body = serde_json::to_vec(&batch.to_request(self.inner.config.number_format()))
            .map_err(|e| Error::Encode(Cause::new(e)))?;
        let account = self.inner.config.client_account_id();
        let request = Request {
            endpoint: Endpoint::CreateCallRecords,
            method: Method::POST,
            url: self.url(&["v2", "clients", account, "dynamic_call_records"]),
            body: Some(body),
            send_by,
            stop: options.stop,
            leaving: options.leaving,
        };
        let result = self.call(&request, read_batch_id).await;
        let mut state = self.lock();
        let stats = &mut state.stats;
        match result {
            Ok((batch_id, delivered)) => {
                stats.batches_created += 1;
                if delivered.possibly_duplicated {
                    stats.possibly_duplicated_batches += 1;
                    stats.records_possibly_duplicated += batch.len() as u64;
                }
                tracing::debug!(
                    attempts = delivered.attempts,
                    possibly_duplicated = delivered.possibly_duplicated,
                    "batch created"
                );
                Ok(Created {
                    batch_id,
                    attempts: delivered.attempts,
                    possibly_duplicated: delivered.possibly_duplicated,
                })
            }
            Err(error) => {
                stats.failed_batches += 1;
                stats.outcome_unknown_batches += u64::from(error.outcome_unknown());
                tracing::warn!(%error, "batch not created");
                Err(error)
            }
        }
    }

    /// Per-record outcomes of a batch (`GET .../dynamic_call_records?batchId=...`, under `/v2/`
    /// or `/v3/` as configured). A record Truecaller has not processed yet is pending, not
    /// failed: see [`tc_core::wire::DeliveryStatus::is_settled`], or let
    /// [`Client::wait_for_batch`] ask again until every record is settled.
    ///
    /// # Errors
    /// An [`Error`]: the batch id refused ([`Error::Final`]), the credentials refused, the
    /// server unreachable after every retry ([`Error::GaveUp`]), an answer that is not the
    /// documented JSON ([`Error::InvalidResponse`]). A status read is safe to repeat.
    #[tracing::instrument(name = "batch_status", skip_all)]
    pub async fn batch_status(&self, batch_id: &BatchId) -> Result<BatchStatusResponse, Error> {
        let version = match self.inner.config.status_api() {
            StatusApi::V2 => "v2",
            StatusApi::V3 => "v3",
        };
        let account = self.inner.config.client_account_id();
        let mut url = self.url(&[version, "clients", account, "dynamic_call_records"]);
        url.query_pairs_mut()
            .append_pair("batchId", batch_id.as_str());
        let request = Request {
            endpoint: Endpoint::BatchStatus,
            method: Method::GET,
            url,
            body: None,
            send_by: None,
            stop: None,
            leaving: None,
        };
        Ok(self.call(&request, read_json).await?.0)
    }

    /// Every label of the account, reading page after page until a short one.
    ///
    /// # Errors
    /// As [`Client::batch_status`], for any page; [`Error::InvalidResponse`] as well when the
    /// server still returns full pages after 10,000 of them (it ignores paging).
    #[tracing::instrument(name = "labels", skip_all)]
    pub async fn labels(&self) -> Result<Vec<Label>, Error> {
        let page_size = self.inner.config.labels_page_size();
        let mut labels = Vec::new();
        let mut page = labels::FIRST_PAGE;
        loop {
            let batch = self.labels_page(page, page_size).await?;
            let next = labels::after_page(page, batch.len(), page_size);
            labels.extend(batch);
            match next {
                NextPage::Read(following) => page = following,
                NextPage::Done => return Ok(labels),
                NextPage::IgnoresPaging => return Err(ignores_paging()),
            }
        }
    }

    /// One page of labels.
    async fn labels_page(&self, page: usize, page_size: usize) -> Result<Vec<Label>, Error> {
        let mut url = self.url(&["clients", self.inner.config.client_account_id(), "labels"]);
        url.query_pairs_mut()
            .append_pair("page", &page.to_string())
            .append_pair("limit", &page_size.to_string());
        let request = Request {
            endpoint: Endpoint::Labels,
            method: Method::GET,
            url,
            body: None,
            send_by: None,
            stop: None,
            leaving: None,
        };
        Ok(self.call(&request, read_json::<Vec<Label>>).await?.0)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves counters, not invariants, half-done.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> MonotonicMillis {
        self.inner.clock.now()
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// The transport's settings from the client's.
fn transport_config(config: &ClientConfig) -> TransportConfig {
    let guard_ms = millis(config.rate_guard());
    let rate = config.rate_limit();
    TransportConfig {
        pool: PoolConfig {
            tokens: config.tokens(),
            token_ttl_ms: millis(config.token_ttl()),
            refresh_margin_ms: millis(config.refresh_margin()),
            rate: WindowLimit::new(rate.limit, rate.window_ms.saturating_add(guard_ms)),
            creations: config.creation_limit(),
        },
        retry: config.retry().policy(config.guarantee()),
        max_token_wait_ms: millis(config.max_token_wait()),
        seed: config.seed().unwrap_or_else(rand::random),
    }
}

/// A success body as the documented JSON; serde's message says where it is not.
fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Unreadable> {
    serde_json::from_slice(body).map_err(|e| Unreadable {
        detail: format!("not the documented JSON: {e}"),
        cause: Some(Cause::new(e)),
    })
}

/// The `batch_id` of a create answer: [`BatchId`]'s rules say what an id can be.
fn read_batch_id(body: &[u8]) -> Result<BatchId, Unreadable> {
    let created: CreateCallRecordsResponse = read_json(body)?;
    Ok(created.batch_id)
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The labels endpoint kept returning full pages: the server ignores paging.
fn ignores_paging() -> Error {
    Error::InvalidResponse {
        endpoint: Endpoint::Labels.name(),
        status: 200,
        detail: format!(
            "still full pages after {} pages; the server ignores paging",
            labels::MAX_LABEL_PAGES
        ),
        attempts: 0,
        possibly_stored: false,
        cause: None,
    }
}
