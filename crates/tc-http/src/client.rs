//! [`Client`]: the four endpoints over one shared token pool, rate limiter and retry policy.

use crate::clock::Clock;
use crate::config::{millis, ClientConfig, StatusApi};
use crate::error::{AttemptFailure, Error};
use crate::http::{classify, error_body, invalid_response, parse_base_url, retry_after_ms};
use crate::secret::AccessToken;
use crate::stats::Stats;
use crate::tokens::{Lease, NoToken};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Url};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tc_core::transport::{
    AuthVerdict, CallAuth, Failure, GiveUpReason, NotSentKind, PoolConfig, RetryDecision,
    RetryPolicy, TokenPool, WindowLimit,
};
use tc_core::wire::{BatchStatusResponse, CreateCallRecordsResponse, Label};
use tc_core::{Batch, Millis};
use tokio::sync::Notify;
use tokio::time::sleep_until;

/// A batch the API accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub batch_id: String,
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
    pub clock: Clock,
    pub state: Mutex<State>,
    /// Woken whenever a token creation ends, for callers waiting on it.
    pub token_ready: Notify,
}

pub(crate) struct State {
    pub pool: TokenPool<AccessToken>,
    pub retry: RetryPolicy,
    pub rng: StdRng,
    pub stats: Stats,
    /// Failed creations in a row, for the token endpoint's own backoff.
    pub creation_failures: u32,
}

/// After a 429 without `Retry-After`, leave the token alone this long.
const DEFAULT_THROTTLE_MS: i64 = 1_000;
/// The labels endpoint is paged; a server that never returns a short page is stopped here.
const MAX_LABEL_PAGES: usize = 10_000;

const CREATE: &str = "create call records";
const STATUS: &str = "batch status";
const LABELS: &str = "labels";

/// One HTTP call as the retry loop repeats it.
struct Call {
    endpoint: &'static str,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    /// Safe to repeat after an unknown outcome (reads).
    idempotent: bool,
}

/// How far a call got: attempts made, and the failure of the latest one whose outcome was
/// unknown.
#[derive(Default)]
struct Progress {
    attempts: u32,
    unknown: Option<AttemptFailure>,
}

/// A 2xx answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
    attempts: u32,
    possibly_duplicated: bool,
}

/// What one attempt at sending produced.
pub(crate) enum Sent {
    Answer {
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    Failed(Failure, AttemptFailure),
}

impl Client {
    /// Checks the configuration and builds the HTTP client. Plain `http://` is refused unless
    /// the host is this machine (a simulator): tokens and the API key must not cross a network
    /// in clear.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let base = parse_base_url(&config.base_url)?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("tc-http/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::config(format!("the HTTP client could not be built: {e}")))?;
        let guard_ms = millis(config.rate_guard);
        let pool = TokenPool::new(PoolConfig {
            tokens: config.tokens,
            token_ttl_ms: millis(config.token_ttl),
            refresh_margin_ms: millis(config.refresh_margin),
            rate: WindowLimit::new(
                config.rate_limit.limit,
                config.rate_limit.window_ms.saturating_add(guard_ms),
            ),
            creations: config.creation_limit,
        });
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let state = State {
            pool,
            retry: RetryPolicy::new(config.retry),
            rng,
            stats: Stats::default(),
            creation_failures: 0,
        };
        let inner = Inner {
            http,
            config,
            base,
            clock: Clock::start(),
            state: Mutex::new(state),
            token_ready: Notify::new(),
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Counts since the client was made.
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Sends one batch (`POST /v2/clients/{id}/dynamic_call_records`), waiting for a token and
    /// for the rate limit as needed, and retrying what is safe to retry.
    ///
    /// Nothing about the batch is re-checked here: the caller checks that no record expired
    /// (`CallRecord::check_still_open`) just before calling.
    #[tracing::instrument(name = "create_call_records", skip_all, fields(records = batch.len()))]
    pub async fn create_call_records(&self, batch: &Batch) -> Result<Created, Error> {
        let body = serde_json::to_vec(&batch.to_request(self.inner.config.number_format))
            .map_err(|e| Error::config(format!("the batch could not be encoded as JSON: {e}")))?;
        let call = Call {
            endpoint: CREATE,
            method: Method::POST,
            url: self.url(&[
                "v2",
                "clients",
                &self.inner.config.client_account_id,
                "dynamic_call_records",
            ]),
            body: Some(body),
            idempotent: false,
        };
        let result = self.call(&call).await;
        let mut state = self.lock();
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => {
                state.stats.failed_batches += 1;
                if error.outcome_unknown() {
                    state.stats.outcome_unknown_batches += 1;
                }
                return Err(error);
            }
        };
        let created: CreateCallRecordsResponse = serde_json::from_slice(&answer.body)
            .map_err(|e| invalid_response(CREATE, answer.status, answer.attempts, &e))?;
        state.stats.batches_created += 1;
        if answer.possibly_duplicated {
            state.stats.possibly_duplicated_batches += 1;
            state.stats.records_possibly_duplicated += batch.len() as u64;
        }
        drop(state);
        tracing::debug!(
            attempts = answer.attempts,
            possibly_duplicated = answer.possibly_duplicated,
            "batch created"
        );
        Ok(Created {
            batch_id: created.batch_id,
            attempts: answer.attempts,
            possibly_duplicated: answer.possibly_duplicated,
        })
    }

    /// Per-record outcomes of a batch (`GET .../dynamic_call_records?batchId=...`, under `/v2/`
    /// or `/v3/` as configured).
    #[tracing::instrument(name = "batch_status", skip_all)]
    pub async fn batch_status(&self, batch_id: &str) -> Result<BatchStatusResponse, Error> {
        let version = match self.inner.config.status_api {
            StatusApi::V2 => "v2",
            StatusApi::V3 => "v3",
        };
        let mut url = self.url(&[
            version,
            "clients",
            &self.inner.config.client_account_id,
            "dynamic_call_records",
        ]);
        url.query_pairs_mut().append_pair("batchId", batch_id);
        let call = Call {
            endpoint: STATUS,
            method: Method::GET,
            url,
            body: None,
            idempotent: true,
        };
        let answer = self.call(&call).await?;
        serde_json::from_slice(&answer.body)
            .map_err(|e| invalid_response(STATUS, answer.status, answer.attempts, &e))
    }

    /// Every label of the account, reading page after page until a short one.
    #[tracing::instrument(name = "labels", skip_all)]
    pub async fn labels(&self) -> Result<Vec<Label>, Error> {
        let page_size = self.inner.config.labels_page_size;
        let mut labels = Vec::new();
        for page in 1..=MAX_LABEL_PAGES {
            let mut url = self.url(&["clients", &self.inner.config.client_account_id, "labels"]);
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("limit", &page_size.to_string());
            let call = Call {
                endpoint: LABELS,
                method: Method::GET,
                url,
                body: None,
                idempotent: true,
            };
            let answer = self.call(&call).await?;
            let batch: Vec<Label> = serde_json::from_slice(&answer.body)
                .map_err(|e| invalid_response(LABELS, answer.status, answer.attempts, &e))?;
            let full = batch.len() >= page_size;
            labels.extend(batch);
            if !full {
                return Ok(labels);
            }
        }
        Err(Error::InvalidResponse {
            endpoint: LABELS,
            status: 200,
            detail: format!(
                "still full pages after {MAX_LABEL_PAGES} pages; the server ignores paging"
            ),
            attempts: 0,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves counters, not invariants, half-done.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Runs a call to a 2xx answer, or to the error that ends it. Once an attempt of a create
    /// request has had an unknown outcome, any error that ends the call says the batch may be
    /// stored.
    async fn call(&self, call: &Call) -> Result<Answer, Error> {
        let mut progress = Progress::default();
        let result = self
            .attempts(call, &mut progress)
            .await
            .map_err(|error| error.with_attempts(progress.attempts));
        match (result, progress.unknown) {
            (Err(error), Some(last)) if !call.idempotent && !error.outcome_unknown() => {
                Err(Error::GaveUp {
                    endpoint: call.endpoint,
                    attempts: progress.attempts,
                    reason: error.to_string(),
                    last,
                    possibly_stored: true,
                })
            }
            (result, _) => result,
        }
    }

    /// The attempts of [`Client::call`], counted in `progress`.
    async fn attempts(&self, call: &Call, progress: &mut Progress) -> Result<Answer, Error> {
        self.lock().retry.record_request();
        let mut attempt = 0u32;
        let mut auth = CallAuth::default();
        loop {
            attempt += 1;
            progress.attempts = attempt;
            if attempt > 1 {
                self.lock().stats.retries += 1;
            }
            let (failure, detail) = match self.acquire().await {
                Err(NoToken::Fatal(error)) => return Err(error),
                Err(NoToken::Failed(failure, detail)) => (failure, detail),
                Ok(lease) => match self.send(call, &lease).await {
                    Sent::Answer { status, body, .. } if (200..300).contains(&status) => {
                        let possibly_duplicated = progress.unknown.is_some() && !call.idempotent;
                        return Ok(Answer {
                            status,
                            body,
                            attempts: attempt,
                            possibly_duplicated,
                        });
                    }
                    Sent::Answer {
                        status: 401, body, ..
                    } => {
                        let (slug, message) = error_body(&body);
                        let verdict = {
                            let mut state = self.lock();
                            state.stats.unauthorized += 1;
                            state.pool.refused(lease.slot, lease.generation, &mut auth)
                        };
                        tracing::debug!(
                            endpoint = call.endpoint,
                            attempt,
                            ?verdict,
                            "401: token refused"
                        );
                        if verdict == AuthVerdict::CredentialsRefused {
                            return Err(Error::Unauthorized {
                                endpoint: call.endpoint,
                                status: 401,
                                slug,
                                message,
                                attempts: attempt,
                            });
                        }
                        continue;
                    }
                    Sent::Answer {
                        status,
                        headers,
                        body,
                    } => {
                        let (slug, message) = error_body(&body);
                        let retry_after = retry_after_ms(&headers);
                        let detail = AttemptFailure::Status {
                            status,
                            slug: slug.clone(),
                            message: message.clone(),
                        };
                        match Failure::from_status(status, &slug, &message, retry_after) {
                            Some(Failure::Final {
                                status,
                                slug,
                                message,
                            }) => {
                                return Err(Error::Final {
                                    endpoint: call.endpoint,
                                    status,
                                    slug,
                                    message,
                                    attempts: attempt,
                                });
                            }
                            Some(failure) => {
                                if status == 429 {
                                    let until =
                                        self.now().plus(retry_after.unwrap_or(DEFAULT_THROTTLE_MS));
                                    self.lock().pool.rate_limited(lease.slot, until);
                                }
                                (failure, detail)
                            }
                            None => {
                                return Err(Error::InvalidResponse {
                                    endpoint: call.endpoint,
                                    status,
                                    detail: "an unexpected status".into(),
                                    attempts: attempt,
                                })
                            }
                        }
                    }
                    Sent::Failed(failure, detail) => (failure, detail),
                },
            };
            if matches!(failure, Failure::OutcomeUnknown(_)) {
                progress.unknown = Some(detail.clone());
            }
            auth.other_failure();
            let decision = {
                let mut state = self.lock();
                let random = state.rng.next_u64();
                let now = self.now();
                if call.idempotent {
                    state
                        .retry
                        .decide_idempotent(attempt, &failure, now, random)
                } else {
                    state.retry.decide(attempt, &failure, now, random)
                }
            };
            match decision {
                RetryDecision::RetryAt(at) => {
                    tracing::debug!(endpoint = call.endpoint, attempt, failure = %detail, retry_in_ms = at.0 - self.now().0, "retrying");
                    sleep_until(self.inner.clock.instant_at(at)).await;
                }
                RetryDecision::GiveUp(GiveUpReason::OutcomeUnknownAtMostOnce) => {
                    tracing::warn!(endpoint = call.endpoint, attempt, failure = %detail, "outcome unknown; not re-sent (at most once)");
                    return Err(Error::OutcomeUnknown {
                        endpoint: call.endpoint,
                        attempts: attempt,
                        last: detail,
                    });
                }
                RetryDecision::GiveUp(reason) => {
                    tracing::warn!(endpoint = call.endpoint, attempt, failure = %detail, %reason, "giving up");
                    let possibly_stored = progress.unknown.is_some() && !call.idempotent;
                    return Err(Error::GaveUp {
                        endpoint: call.endpoint,
                        attempts: attempt,
                        reason: reason.to_string(),
                        last: detail,
                        possibly_stored,
                    });
                }
            }
        }
    }

    /// Sends one attempt with a token.
    async fn send(&self, call: &Call, lease: &Lease) -> Sent {
        let Some(authorization) = lease.token.authorization() else {
            // Unusable token: drop it and let the retry get another.
            self.lock().pool.unauthorized(lease.slot, lease.generation);
            return Sent::Failed(
                Failure::NotSent(NotSentKind::Connect),
                AttemptFailure::Connect(
                    "the token endpoint returned a token that cannot be sent in a header".into(),
                ),
            );
        };
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, "application/json");
        if let Some(body) = &call.body {
            request = request.body(body.clone());
        }
        self.lock().stats.requests += 1;
        tracing::trace!(endpoint = call.endpoint, slot = lease.slot, "sending");
        let sent = self.finish(call.endpoint, request.send().await).await;
        // The server counted the request somewhere before now: take its window place from now.
        let now = self.now();
        self.lock().pool.send_finished(lease.slot, lease.at, now);
        sent
    }

    /// Reads an answer, or classifies a transport error.
    pub(crate) async fn finish(
        &self,
        endpoint: &'static str,
        result: reqwest::Result<reqwest::Response>,
    ) -> Sent {
        let sent = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(body) => Sent::Answer {
                        status,
                        headers,
                        body: body.to_vec(),
                    },
                    // The status arrived but not the body: for a success, the outcome is unknown.
                    Err(error) => classify(&error),
                }
            }
            Err(error) => classify(&error),
        };
        let mut state = self.lock();
        match &sent {
            Sent::Answer { status, .. } => {
                *state.stats.responses_by_status.entry(*status).or_insert(0) += 1;
                if *status == 429 {
                    state.stats.rate_limited += 1;
                }
                tracing::debug!(endpoint, status, "answered");
            }
            Sent::Failed(_, detail) => {
                state.stats.transport_failures += 1;
                tracing::debug!(endpoint, failure = %detail, "no answer");
            }
        }
        sent
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
