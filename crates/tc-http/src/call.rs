//! The driver of one call: it carries out what `tc_core`'s [`Exchange`] says (create a token,
//! send at a moment, wait) and tells it what happened. Every decision is the exchange's.

use crate::client::Client;
use crate::config::duration;
use crate::error::{AttemptFailure, Cause, Error};
use crate::http::{exchange, Reply};
use crate::leaving::{Departure, Leaving};
use crate::secret::AccessToken;
use crate::stop::StopSignal;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Url};
use std::sync::Arc;
use std::time::Duration;
use tc_core::transport::MonotonicMillis;
use tc_core::transport::{
    Action, Delivered, Endpoint, Exchange, FailReason, SendCheck, TransportError,
};
use tokio::time::{sleep_until, timeout_at};

/// One HTTP call as the exchange repeats it.
pub(crate) struct Request {
    pub endpoint: Endpoint,
    pub method: Method,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    /// No attempt leaves after this instant of the client's clock.
    pub send_by: Option<MonotonicMillis>,
    /// Ends the call while it waits, once given.
    pub stop: Option<StopSignal>,
    /// Told before the first request leaves.
    pub leaving: Option<Arc<dyn Leaving>>,
}

/// The caller gave the request's [`StopSignal`] while the call was waiting.
pub(crate) struct Stopped;

/// Why a success body is not the documented one, and the parser's error if it was one.
pub(crate) struct Unreadable {
    pub detail: String,
    pub cause: Option<Cause>,
}

impl Unreadable {
    pub fn new(detail: String) -> Unreadable {
        Unreadable {
            detail,
            cause: None,
        }
    }
}

/// Reads a success body, or says why it is not the documented one.
pub(crate) type Decode<T> = fn(&[u8]) -> Result<T, Unreadable>;

/// A token from the server that cannot travel in an `Authorization` header.
#[derive(Debug)]
struct UnusableToken;

impl std::fmt::Display for UnusableToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the token endpoint handed out a token that cannot be sent in a header")
    }
}

impl std::error::Error for UnusableToken {}

/// A call under way. If its future is dropped midway, the exchange is abandoned, so a token
/// creation it owned is released and the calls waiting for it are woken.
pub(crate) struct Running<'a> {
    pub client: &'a Client,
    pub exchange: Exchange,
    /// The latest failed attempt, as seen on the wire, for the error that may end the call.
    pub last: Option<AttemptFailure>,
    /// The request's [`Leaving`] was told and let it go.
    pub announced: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let now = self.client.now();
        self.exchange
            .abandon(&mut self.client.lock().transport, now);
        self.client.inner.token_ready.notify_waiters();
    }
}

impl Client {
    /// Runs `request` to a decoded success answer, or to the error that ends it.
    pub(crate) async fn call<T>(
        &self,
        request: &Request,
        decode: Decode<T>,
    ) -> Result<(T, Delivered), Error> {
        let mut exchange = self.lock().transport.begin(request.endpoint);
        if let Some(send_by) = request.send_by {
            exchange = exchange.with_send_by(send_by);
        }
        let mut running = Running {
            client: self,
            exchange,
            last: None,
            announced: false,
        };
        let mut decoded = None;
        loop {
            // Registered before the pool is read, so a creation that ends in between still
            // wakes this call.
            let ready = self.inner.token_ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            match self.next_action(&mut running, request) {
                // A success is always decoded first (an unreadable one ends as a failure), so
                // `None` cannot happen; if it did, the batch may be stored, and the error says so.
                Action::Done(Ok(delivered)) => match decoded.take() {
                    Some(value) => return Ok((value, delivered)),
                    None => return Err(undecoded(request.endpoint, delivered)),
                },
                Action::Done(Err(failed)) => {
                    let wait = self.until(&failed.reason);
                    return Err(Error::ended(failed, running.last.take(), wait));
                }
                action => {
                    let step = self.carry_out(&mut running, action, request, decode, ready);
                    match step.await {
                        Ok(Some(value)) => decoded = Some(value),
                        Ok(None) => {}
                        Err(Stopped) => return Err(self.stopped(&mut running)),
                    }
                }
            }
        }
    }

    /// What the exchange says to do now; a new attempt is logged with the failure before it.
    fn next_action(&self, running: &mut Running<'_>, request: &Request) -> Action<AccessToken> {
        let attempt = running.exchange.attempt();
        let action = {
            let now = self.now();
            running.exchange.poll(&mut self.lock().transport, now)
        };
        if running.exchange.attempt() > attempt {
            let failure = running.last.as_ref().map(ToString::to_string);
            tracing::debug!(endpoint = %request.endpoint, attempt, ?failure, "retrying");
        }
        action
    }

    /// Carries out an action that does not end the call: creates a token, sends (the decoded
    /// success body, if one came back), or waits (`ready` wakes a wait for another call's
    /// token). `Stopped` when the request's stop signal came while it waited.
    async fn carry_out<T>(
        &self,
        running: &mut Running<'_>,
        action: Action<AccessToken>,
        request: &Request,
        decode: Decode<T>,
        ready: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    ) -> Result<Option<T>, Stopped> {
        match action {
            Action::CreateToken => match &self.inner.shared {
                Some(shared) => self.create_shared_token(shared, running, request).await?,
                None => drop(self.create_token(running, None).await),
            },
            Action::Send { at, token } => {
                if let SendCheck::Now = self.wait_for_place(running, at, request).await? {
                    return self
                        .send_coordinated(running, request, &token, decode)
                        .await;
                }
            }
            Action::WaitUntil(at) => self.wait(at, request).await?,
            Action::WaitForToken { recheck_at } => {
                let recheck = timeout_at(self.inner.clock.instant_at(recheck_at), ready);
                // Woken or timed out, the pool is read again either way.
                let _woken = self.unless_stopped(recheck, request).await?;
            }
            // The call's end is the caller's to carry out.
            Action::Done(_) => {}
        }
        Ok(None)
    }

    /// Waits until `at`, then until the exchange confirms the send's place in its token's
    /// window (answers that came back meanwhile may have moved it later). `SendCheck::Now` to
    /// send; `SendCheck::Ended` when the call is over instead.
    async fn wait_for_place(
        &self,
        running: &mut Running<'_>,
        mut at: MonotonicMillis,
        request: &Request,
    ) -> Result<SendCheck, Stopped> {
        loop {
            self.wait(at, request).await?;
            let now = self.now();
            let check = running
                .exchange
                .ready_to_send(&mut self.lock().transport, now);
            match check {
                SendCheck::WaitUntil(later) => at = later,
                SendCheck::Now | SendCheck::Ended => return Ok(check),
            }
        }
    }

    /// Tells the request's [`Leaving`], once, that its first request is about to leave.
    /// `Stopped` when it answers that the request must not.
    pub(crate) async fn announce(
        &self,
        running: &mut Running<'_>,
        request: &Request,
    ) -> Result<(), Stopped> {
        let Some(leaving) = request.leaving.as_ref().filter(|_| !running.announced) else {
            return Ok(());
        };
        match leaving.about_to_leave().await {
            Departure::Go => {
                running.announced = true;
                Ok(())
            }
            Departure::Cancel => Err(Stopped),
        }
    }

    /// Waits until `at` on the client's clock, unless the request's stop signal comes first.
    pub(crate) async fn wait(&self, at: MonotonicMillis, request: &Request) -> Result<(), Stopped> {
        let sleep = sleep_until(self.inner.clock.instant_at(at));
        self.unless_stopped(sleep, request).await.map(drop)
    }

    /// `future`'s output, unless the request's stop signal is given first.
    pub(crate) async fn unless_stopped<F: std::future::Future>(
        &self,
        future: F,
        request: &Request,
    ) -> Result<F::Output, Stopped> {
        let Some(stop) = &request.stop else {
            return Ok(future.await);
        };
        tokio::select! {
            biased;
            () = stop.stopped() => Err(Stopped),
            output = future => Ok(output),
        }
    }

    /// Ends a call its caller stopped while it waited: nothing of this attempt was sent.
    fn stopped(&self, running: &mut Running<'_>) -> Error {
        let now = self.now();
        let failed = {
            let mut state = self.lock();
            running.exchange.abandon(&mut state.transport, now);
            running.exchange.poll(&mut state.transport, now)
        };
        self.inner.token_ready.notify_waiters();
        let failed = match failed {
            Action::Done(Err(failed)) => failed,
            // Abandoning always ends a call; were it not so, the batch may be stored.
            _ => tc_core::transport::Failed {
                endpoint: running.exchange.endpoint(),
                attempts: running.exchange.attempt(),
                reason: FailReason::Cancelled,
                possibly_stored: true,
            },
        };
        Error::ended(failed, running.last.take(), Duration::ZERO)
    }

    /// How long until the creation budget allows a token, or the request could leave, for an
    /// error that says so.
    fn until(&self, reason: &FailReason) -> Duration {
        match reason {
            FailReason::TokenBudgetSpent { until }
            | FailReason::SendByPassed {
                leaves_at: until, ..
            } => duration(until.millis_since(self.now())),
            _ => Duration::ZERO,
        }
    }

    /// Sends one attempt with `token` and reports what came back; the decoded body of a
    /// success.
    pub(crate) async fn send<T>(
        &self,
        running: &mut Running<'_>,
        request: &Request,
        token: &AccessToken,
        decode: Decode<T>,
    ) -> Option<T> {
        let reply = match token.authorization() {
            Some(authorization) => {
                let mut builder = self
                    .inner
                    .http
                    .request(request.method.clone(), request.url.clone())
                    .header(reqwest::header::AUTHORIZATION, authorization)
                    .header(CONTENT_TYPE, "application/json");
                if let Some(body) = &request.body {
                    builder = builder.body(body.clone());
                }
                self.lock().stats.requests += 1;
                let reply = exchange(builder, request.endpoint).await;
                self.count(request.endpoint, &reply);
                reply
            }
            // The server handed out a token that cannot travel in a header: nothing is sent.
            None => Reply::Lost(TransportError::Connect, Cause::new(UnusableToken)),
        };
        self.report(running, reply, decode)
    }

    /// Tells the exchange what one attempt of the call's own request produced.
    fn report<T>(&self, running: &mut Running<'_>, reply: Reply, decode: Decode<T>) -> Option<T> {
        if let Some(failure) = reply.failure() {
            running.last = Some(failure);
        }
        let now = self.now();
        let mut state = self.lock();
        let transport = &mut state.transport;
        match reply {
            Reply::Lost(kind, _) => running.exchange.on_transport_error(transport, kind, now),
            Reply::Answer(answer) => {
                let exchange = &mut running.exchange;
                exchange.on_answer(transport, answer.status, answer.retry_after_ms, now);
                if !answer.is_success() {
                    return None;
                }
                let decoded = if answer.complete {
                    decode(&answer.body)
                } else {
                    let limit = exchange.endpoint().answer_limit();
                    Err(Unreadable::new(format!("longer than {limit} bytes")))
                };
                match decoded {
                    Ok(value) => return Some(value),
                    Err(unreadable) => {
                        running.last = Some(AttemptFailure::Unreadable {
                            status: answer.status,
                            detail: unreadable.detail,
                            cause: unreadable.cause,
                        });
                        exchange.on_unreadable_answer(transport, answer.status, now);
                    }
                }
            }
        }
        None
    }

    /// Counts an answer or a transport failure in the stats, and logs it.
    pub(crate) fn count(&self, endpoint: Endpoint, reply: &Reply) {
        let mut state = self.lock();
        match reply {
            Reply::Answer(answer) => {
                let status = answer.status;
                *state.stats.responses_by_status.entry(status).or_insert(0) += 1;
                tracing::debug!(%endpoint, status, "answered");
            }
            Reply::Lost(kind, cause) => {
                state.stats.transport_failures += 1;
                tracing::debug!(%endpoint, ?kind, %cause, "no answer");
            }
        }
    }
}

/// The error for a success whose body the driver lost track of.
fn undecoded(endpoint: Endpoint, delivered: Delivered) -> Error {
    Error::InvalidResponse {
        endpoint: endpoint.name(),
        status: delivered.status,
        detail: "the answer's body was not kept".into(),
        attempts: delivered.attempts,
        possibly_stored: !endpoint.is_repeatable(),
        cause: None,
    }
}
