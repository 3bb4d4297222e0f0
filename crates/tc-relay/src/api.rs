//! The relay's HTTP API (axum): posting records, reading a record's status, health, readiness
//! and metrics.

use crate::intake::{read_post, Intake, Problem};
use crate::keys::Producer;
use crate::metrics::RequestOutcome;
use crate::refusal::{refuse, ErrorCode};
use crate::relay::{Job, Shared};
use crate::status::RecordId;
use crate::store::{BodyDigest, IdempotencyKey, NewRecord, Post, PostAnswer, Reply};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tc_core::Validator;
use tokio::sync::oneshot;

/// The largest post body: 5,000 records of 1 KiB and more.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// The header a retried post repeats, so it is not queued twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest `Idempotency-Key` kept, in bytes.
pub(crate) const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/call-records", post(post_records))
        .route("/v1/call-records/{id}", get(get_record))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn no_such_endpoint() -> Response {
    refuse(
        ErrorCode::NotFound,
        "no such endpoint: see /openapi.json for the relay's API",
    )
}

async fn method_not_allowed() -> Response {
    refuse(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method: see /openapi.json for the relay's API",
    )
}

/// What a producer without a valid key is told.
const KEY_REQUIRED: &str = "a producer key is required: send Authorization: Bearer <key>";

/// A producer key, when the relay asks for one: `Authorization: Bearer <key>`.
/// Who is asking: `Ok(None)` when the relay takes anyone (no producer keys), the producer
/// whose key `Authorization: Bearer` presents, or `Err` when it presents none of the keys.
fn caller(shared: &Shared, headers: &HeaderMap) -> Result<Option<Producer>, NotAProducer> {
    let Some(keys) = shared.config.producer_keys() else {
        return Ok(None);
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|key| keys.producer_of(key.trim()))
        .map(Some)
        .ok_or(NotAProducer)
}

/// A request that presents no producer key the relay takes.
struct NotAProducer;

/// What a post whose body is not declared JSON is told.
const NOT_DECLARED_JSON: &str = "declare the body JSON: Content-Type: application/json (a +json \
                                 type, and charset=utf-8, are fine too)";

/// Whether the post declares its body JSON: `application/json` or a `+json` type, in UTF-8 (the
/// only charset JSON has). Without keys the relay admits any local process, and a browser would
/// post a `text/plain` body, or one with no type, cross-origin without asking first; a JSON
/// type needs a CORS preflight, which the relay never grants (it sends no CORS headers).
fn declared_json(headers: &HeaderMap) -> bool {
    let Some(declared) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = declared.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    json && utf8
}

/// The post's `Idempotency-Key`, if any; `Err` holds why it cannot be used.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    // A tab passes HTTP's rules for header values, but a key a person cannot see whole is
    // one a retry gets wrong.
    let visible = |b: &u8| b.is_ascii_graphic() || *b == b' ';
    let key = std::str::from_utf8(value.as_bytes()).map(str::trim);
    match key {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_IDEMPOTENCY_KEY_BYTES
                && key.as_bytes().iter().all(visible) =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes of visible ASCII \
             (spaces inside are kept): send the same key with every retry of a post"
        )),
    }
}

async fn post_records(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (outcome, response) = answer_post(&shared, &headers, body).await;
    shared.metrics.request(outcome);
    response
}

async fn answer_post(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (RequestOutcome, Response) {
    let Ok(producer) = caller(shared, headers) else {
        let response = refuse(ErrorCode::Unauthorized, KEY_REQUIRED);
        return (RequestOutcome::Unauthorized, response);
    };
    if shared.stopping.load(Ordering::SeqCst) {
        return (
            RequestOutcome::Unavailable,
            refuse(ErrorCode::ShuttingDown, SHUTTING_DOWN),
        );
    }
    if !declared_json(headers) {
        let response = refuse(ErrorCode::UnsupportedMediaType, NOT_DECLARED_JSON);
        return (RequestOutcome::NotDeclaredJson, response);
    }
    let key = match idempotency_key(headers) {
        Ok(key) => key,
        Err(message) => {
            let response = refuse(ErrorCode::InvalidIdempotencyKey, message);
            return (RequestOutcome::Unreadable, response);
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return (RequestOutcome::Unreadable, body_refused(&rejection)),
    };
    let intake = match read_post(&body) {
        Ok(intake) => intake,
        Err(unreadable) => {
            let response = refuse(ErrorCode::UnreadableBody, unreadable.0);
            return (RequestOutcome::Unreadable, response);
        }
    };
    let key = key.map(|key| IdempotencyKey {
        key,
        body: BodyDigest::of(&body),
    });
    let mut post = validate(shared, intake, key);
    post.producer = producer;
    if post.records.is_empty() {
        let answer = PostAnswer {
            accepted: Vec::new(),
            problems: post.problems,
            ignored_keys: post.ignored_keys,
            replayed: false,
        };
        let response = (StatusCode::UNPROCESSABLE_ENTITY, Json(answer)).into_response();
        return (RequestOutcome::Invalid, response);
    }
    queue_post(shared, post).await
}

/// Why a body could not be taken: too large, or cut off while it was read.
fn body_refused(rejection: &BytesRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let message = format!(
            "the body is larger than the relay takes ({} MiB): post the records in several \
             smaller posts",
            MAX_BODY_BYTES >> 20
        );
        return refuse(ErrorCode::BodyTooLarge, message);
    }
    let message = format!("the body could not be read: {}", rejection.body_text());
    refuse(ErrorCode::UnreadableBody, message)
}

/// Hands a post with valid records to the group commit and answers once it is durable.
async fn queue_post(shared: &Arc<Shared>, post: Post) -> (RequestOutcome, Response) {
    let records = post.records.len();
    if shared.backlog() + records > shared.config.queue_limit() {
        let message = format!(
            "the relay's queue is full ({} records); post again after Retry-After",
            shared.config.queue_limit()
        );
        return (
            RequestOutcome::Overloaded,
            refuse(ErrorCode::QueueFull, message),
        );
    }
    shared.pending.fetch_add(records, Ordering::Relaxed);
    let (reply, answered) = oneshot::channel();
    if shared.posts.send(Job { post, reply }).await.is_err() {
        shared.pending.fetch_sub(records, Ordering::Relaxed);
        return (
            RequestOutcome::Unavailable,
            refuse(ErrorCode::ShuttingDown, SHUTTING_DOWN),
        );
    }
    match answered.await {
        Ok(Ok(Reply::KeyReused { key })) => {
            let message = format!(
                "the Idempotency-Key `{}` was used before for a different body: nothing was \
                 queued. Retry a post with its exact bytes, or give a new post a new key",
                tc_core::diagnostic::excerpt(&key)
            );
            let response = refuse(ErrorCode::IdempotencyKeyReused, message);
            (RequestOutcome::Invalid, response)
        }
        Ok(Ok(Reply::Answer(answer))) => {
            let queued = answer.accepted.iter().filter(|a| !a.deduplicated).count();
            let outcome = if answer.replayed {
                RequestOutcome::Replayed
            } else {
                shared.metrics.records("acknowledged", queued);
                RequestOutcome::Accepted
            };
            (
                outcome,
                (StatusCode::ACCEPTED, Json(answer)).into_response(),
            )
        }
        Ok(Err(failure)) => (
            RequestOutcome::Unavailable,
            refuse(
                ErrorCode::StoreUnavailable,
                format!(
                    "the records could not be stored, and none of the post is acknowledged: \
                     {failure}; post again after Retry-After"
                ),
            ),
        ),
        Err(_) => (
            RequestOutcome::Unavailable,
            refuse(ErrorCode::ShuttingDown, SHUTTING_DOWN),
        ),
    }
}

const SHUTTING_DOWN: &str = "the relay is shutting down; post again to another relay or later";

/// Validates each record as `tcbatch validate` would, at the time of the post.
fn validate(shared: &Shared, intake: Intake, key: Option<IdempotencyKey>) -> Post {
    let mut validator = Validator::new(shared.clock.now());
    if let Some(region) = shared.config.region() {
        validator = validator.with_default_region(region);
    }
    let mut problems = intake.problems;
    let mut records = Vec::with_capacity(intake.records.len());
    for incoming in intake.records {
        match validator.validate(&incoming.raw) {
            Ok(record) => records.push(NewRecord {
                number: incoming.number,
                record,
                external_id: incoming.external_id,
            }),
            Err(diagnostics) => problems.extend(
                diagnostics
                    .into_iter()
                    .map(|d| Problem::new(incoming.number, incoming.line, d)),
            ),
        }
    }
    problems.sort_by_key(|p| p.record);
    Post {
        producer: None,
        idempotency_key: key,
        records,
        problems,
        ignored_keys: intake.ignored_keys,
    }
}

async fn get_record(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(reader) = caller(&shared, &headers) else {
        return refuse(ErrorCode::Unauthorized, KEY_REQUIRED);
    };
    let id: RecordId = match id.map(|Path(id)| id.parse()) {
        Ok(Ok(id)) => id,
        Ok(Err(invalid)) => return refuse(ErrorCode::InvalidRecordId, invalid.to_string()),
        Err(rejection) => return refuse(ErrorCode::InvalidRecordId, rejection.body_text()),
    };
    match shared.store.status(id).await {
        // Only the id the post was answered with opens a record, and only to the producer
        // that posted it: its number alone, a guessed tag, or another producer's record is
        // answered as a record that does not exist.
        Ok(Some(tracked))
            if id.shows_tag_of(tracked.record.id) && tracked.readable_by(reader.as_ref()) =>
        {
            Json(tracked.record).into_response()
        }
        Ok(_) => refuse(
            ErrorCode::RecordNotFound,
            format!("no record {id}: never acknowledged, or settled and purged since"),
        ),
        Err(failure) => refuse(
            ErrorCode::StoreUnavailable,
            format!("the store could not be read: {failure}; ask again after Retry-After"),
        ),
    }
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok\n"
}

/// The relay takes posts and sends them: not shutting down, the queue below its limit, the
/// last group commit a success, sending not paused. A load balancer then sends posts to a
/// relay that does both.
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.stopping.load(Ordering::SeqCst) {
        return refuse(ErrorCode::ShuttingDown, "the relay is shutting down");
    }
    if shared.backlog() >= shared.config.queue_limit() {
        return refuse(ErrorCode::QueueFull, "the queue is full");
    }
    if shared.health.snapshot().commit_failing {
        return refuse(
            ErrorCode::StoreFailing,
            "the store failed the last group commit and none has succeeded since: posts get \
             503 (the log says why); ready again once a post's commit succeeds",
        );
    }
    if let Some(reason) = shared.sending_paused() {
        let message = format!(
            "sending is paused ({}): {}; posts are still taken and queued",
            reason.as_str(),
            reason.advice()
        );
        return refuse(ErrorCode::SendingPaused, message);
    }
    "ready\n".into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let counts = shared.store.counts().await;
    if let Ok(counts) = counts {
        shared.metrics.records_by_state(&counts);
    }
    let paused = shared.sending_paused();
    shared.metrics.health(paused, &shared.health.snapshot());
    let text = shared.metrics.render(&shared.client.stats());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}
