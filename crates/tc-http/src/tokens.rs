//! The token request, `POST /clients/{id}/token`, sent when the exchange says so.

use crate::call::Running;
use crate::client::Client;
use crate::http::{exchange, Reply};
use crate::secret::AccessToken;
use secrecy::ExposeSecret;
use tc_core::transport::Endpoint;
use tc_core::wire::TokenRequest;

impl Client {
    /// Creates the token the running call has claimed, and reports the outcome to it. The
    /// calls waiting for the creation are woken whatever the outcome.
    pub(crate) async fn create_token(&self, running: &mut Running<'_>) {
        let reply = self.request_token().await;
        if let Some(failure) = reply.failure() {
            running.last = Some(failure);
        }
        let now = self.now();
        let mut state = self.lock();
        let transport = &mut state.transport;
        let exchange = &mut running.exchange;
        match reply {
            Reply::Lost(kind, _) => exchange.on_transport_error(transport, kind, now),
            Reply::Answer(answer) if !answer.is_success() => {
                exchange.on_token_refused(transport, answer.status, answer.retry_after_ms, now)
            }
            Reply::Answer(answer) => match read_token(&answer.body).filter(|_| answer.complete) {
                Some(token) => {
                    exchange.on_token_minted(transport, token);
                    state.stats.tokens_created += 1;
                    tracing::debug!("token created");
                }
                None => {
                    // Without the parser's error: its message can quote the token.
                    running.last = Some(crate::error::AttemptFailure::Unreadable {
                        status: answer.status,
                        detail: "the body is not {\"token\": \"...\", \"created_at\": \"...\"}"
                            .into(),
                        cause: None,
                    });
                    exchange.on_unreadable_answer(transport, answer.status, now);
                }
            },
        }
        drop(state);
        self.inner.token_ready.notify_waiters();
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

/// The token of a 200 answer. Parse errors are not kept: serde's messages can quote the input.
fn read_token(body: &[u8]) -> Option<AccessToken> {
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        token: String,
    }
    let answer: TokenAnswer = serde_json::from_slice(body).ok()?;
    (!answer.token.is_empty()).then(|| AccessToken::new(answer.token))
}
