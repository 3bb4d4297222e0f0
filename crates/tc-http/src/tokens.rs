//! The token request, `POST /clients/{id}/token`, sent when the exchange says so.

use crate::call::Running;
use crate::client::Client;
use crate::coordinator::Reached;
use crate::http::{exchange, Reply};
use crate::secret::AccessToken;
use secrecy::ExposeSecret;
use tc_core::transport::{coordination, Endpoint};
use tc_core::wire::TokenRequest;

/// What a token request produced.
pub(crate) enum Minted {
    /// A token, already handed to the exchange.
    Token(AccessToken),
    /// No token; whether the request may have reached the API.
    Failed(Reached),
}

impl Client {
    /// Creates the token the running call has claimed, and reports the outcome to it. The
    /// calls waiting for the creation are woken whatever the outcome. A token created under a
    /// coordinator's claim carries the claim's id as `shared_id`.
    pub(crate) async fn create_token(
        &self,
        running: &mut Running<'_>,
        shared_id: Option<u64>,
    ) -> Minted {
        let reply = self.request_token().await;
        if let Some(failure) = reply.failure() {
            running.last = Some(failure);
        }
        let now = self.now();
        let mut state = self.lock();
        let transport = &mut state.transport;
        let exchange = &mut running.exchange;
        let minted = match reply {
            Reply::Lost(kind, _) => {
                exchange.on_transport_error(transport, kind, now);
                let reached = coordination::token_request_may_have_reached(kind);
                Minted::Failed(if reached { Reached::Maybe } else { Reached::No })
            }
            Reply::Answer(answer) if !answer.is_success() => {
                // Said here, once per refusal: a spent creation budget (429) otherwise shows
                // only as calls that wait.
                tracing::warn!(
                    status = answer.status,
                    retry_after_ms = answer.retry_after_ms,
                    "the token endpoint refused to create a token"
                );
                exchange.on_token_refused(transport, answer.status, answer.retry_after_ms, now);
                Minted::Failed(Reached::Maybe)
            }
            Reply::Answer(answer) => match read_token(&answer.body).filter(|_| answer.complete) {
                Some(token) => {
                    let token = match shared_id {
                        Some(id) => token.shared_as(id),
                        None => token,
                    };
                    exchange.on_token_minted(transport, token.clone());
                    state.stats.tokens_created += 1;
                    tracing::debug!("token created");
                    Minted::Token(token)
                }
                None => {
                    // Without the parser's error: its message can quote the token.
                    running.last = Some(unreadable_token(answer.status));
                    exchange.on_unreadable_answer(transport, answer.status, now);
                    Minted::Failed(Reached::Maybe)
                }
            },
        };
        drop(state);
        self.inner.token_ready.notify_waiters();
        minted
    }

    /// Sends the token request and reads its answer. The API key leaves only here, only to
    /// the configured origin (redirects are never followed).
    async fn request_token(&self) -> Reply {
        let config = &self.inner.config;
        let body = TokenRequest {
            key_id: config.key_id().to_owned(),
            api_key: config.api_key().expose_secret().to_owned(),
        };
        let url = self.url(&["clients", config.client_account_id(), "token"]);
        let request = self
            .inner
            .http
            .post(url)
            .header("X-Public-Access", "allow")
            .json(&body);
        {
            let mut state = self.lock();
            state.stats.requests += 1;
            state.stats.token_requests += 1;
        }
        tracing::debug!("creating a token");
        let reply = exchange(request, Endpoint::Token).await;
        self.count(Endpoint::Token, &reply);
        reply
    }
}

/// Why a success answer of the token endpoint held no token.
fn unreadable_token(status: u16) -> crate::error::AttemptFailure {
    crate::error::AttemptFailure::Unreadable {
        status,
        detail: "the body is not {\"token\": \"...\", \"created_at\": \"...\"}".into(),
        cause: None,
    }
}

/// The token of a 200 answer. Parse errors are not kept: serde's messages can quote the input.
fn read_token(body: &[u8]) -> Option<AccessToken> {
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        token: String,
    }
    let answer: TokenAnswer = serde_json::from_slice(body).ok()?;
    (!answer.token.is_empty()).then(|| AccessToken::new(answer.token))
}
