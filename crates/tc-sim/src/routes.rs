//! The HTTP surface: routes, the `{slug, message}` error answers, auth, and every endpoint but
//! create (see [`crate::create`]).

use crate::create::create_call_records;
use crate::fault::Dropped;
use crate::labels;
use crate::state::{Account, RetryAfter};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tc_core::wire::{ApiErrorBody, BatchStatusResponse, TokenResponse};
use tc_core::EpochMillis;
use tokio::time::Instant;

pub(crate) type SharedState = Arc<Account>;

/// Far above a full batch of 500 long records (about 250 KB), so a big body is refused by the
/// record-count rule with a useful message, not by the body limit.
const BODY_LIMIT_BYTES: usize = 8 * 1024 * 1024;

pub(crate) const ADMIN_PREFIX: &str = "/__sim/";

pub(crate) fn router(shared: SharedState) -> Router {
    Router::new()
        .route("/clients/{account}/token", post(create_token))
        .route(
            "/v2/clients/{account}/dynamic_call_records",
            post(create_call_records).get(batch_status),
        )
        .route(
            "/v3/clients/{account}/dynamic_call_records",
            get(batch_status),
        )
        .route("/clients/{account}/labels", get(list_labels))
        .route("/__sim/counters", get(admin_counters))
        .route("/__sim/records", get(admin_records))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(shared)
}

/// Adds the configured latency, counts the answer by status and logs method, path and status.
/// Headers and bodies are never logged: they carry the API key and tokens.
async fn observe(State(shared): State<SharedState>, request: Request, next: Next) -> Response {
    let admin = request.uri().path().starts_with(ADMIN_PREFIX);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if !admin && !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if response.extensions().get::<Dropped>().is_some() {
        tracing::info!(%method, %path, "batch stored, connection dropped without an answer (fault)");
    } else if !admin {
        shared.count_response(status);
        tracing::info!(%method, %path, status, "answered");
    }
    response
}

/// An error answer in the API's `{slug, message}` shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    slug: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            slug,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-input", message)
    }

    pub fn login_again() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authorization-error",
            "please login again",
        )
    }

    pub fn too_many(retry: RetryAfter, message: impl Into<String>) -> Self {
        let seconds = retry.seconds();
        let message = format!("{}; retry in {seconds} s", message.into());
        ApiError {
            retry_after: Some(seconds),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", message)
        }
    }

    pub fn body_unreadable(rejection: BytesRejection) -> Self {
        Self::new(
            rejection.status(),
            "invalid-input",
            format!("the request body could not be read: {rejection}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody::new(self.slug, self.message);
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

pub(crate) fn now_millis() -> EpochMillis {
    // A clock before 1973 is broken; the earliest time a record can hold keeps the simulator
    // answering rather than failing every request.
    EpochMillis::try_from(SystemTime::now()).unwrap_or(EpochMillis::MIN)
}

/// "60 s", "30 min": limits as a person reads them.
pub(crate) fn human(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{} ms", d.as_millis()),
        s if s.is_multiple_of(60) => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The bearer token of a request, if it is one this simulator issued and it has not expired.
pub(crate) fn authorize(shared: &Account, headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::login_again()),
    };
    if shared.token_is_valid(token, Instant::now()) {
        Ok(token.to_owned())
    } else {
        Err(ApiError::login_again())
    }
}

pub(crate) fn check_account(shared: &Account, account: &str) -> Result<(), ApiError> {
    if account == shared.config.client_account_id {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden-error",
            "not authorized. please contact your admin.",
        ))
    }
}

async fn create_token(
    State(shared): State<SharedState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let public = headers.get("x-public-access").and_then(|v| v.to_str().ok());
    if !public.is_some_and(|v| v.trim().eq_ignore_ascii_case("allow")) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden-error",
            "the token endpoint needs the header X-Public-Access: allow",
        ));
    }
    let body = body.map_err(ApiError::body_unreadable)?;
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body)
        .map_err(|e| {
            ApiError::invalid_input(format!(
                "the body must be a JSON object {{\"key_id\": ..., \"api_key\": ...}}: {e}"
            ))
        })?;
    let field = |name: &str| {
        fields
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let key_id = field("key_id").ok_or_else(|| ApiError::invalid_input("key_id is required"))?;
    let api_key = field("api_key").ok_or_else(|| ApiError::invalid_input("api_key is required"))?;
    let config = &shared.config;
    if account != config.client_account_id || key_id != config.key_id || api_key != config.api_key {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authorization-error",
            "invalid client account id, key id or api key; check them in the business console",
        ));
    }
    let token = shared.create_token(Instant::now()).map_err(|retry| {
        ApiError::too_many(
            retry,
            format!(
                "at most {} tokens may be created per {}; reuse the token you have, it is valid for {}",
                config.token_creations_per_window,
                human(config.token_creation_window),
                human(config.token_ttl)
            ),
        )
    })?;
    Ok(Json(TokenResponse::new(token, now_millis().to_rfc3339())))
}

async fn batch_status(
    State(shared): State<SharedState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<BatchStatusResponse>, ApiError> {
    authorize(&shared, &headers)?;
    check_account(&shared, &account)?;
    let query = read_query(query)?;
    let batch_id = query
        .get("batchId")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_input(
                "batchId is required: add ?batchId=<the batch_id of the create answer>",
            )
        })?;
    let data = shared.batch_status(batch_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no batch with id `{batch_id}` on this account"),
        )
    })?;
    let mut answer = BatchStatusResponse::default();
    answer.client_account_id = account;
    answer.batch_id = batch_id.to_owned();
    answer.data = data;
    Ok(Json(answer))
}

async fn list_labels(
    State(shared): State<SharedState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Vec<tc_core::wire::Label>>, ApiError> {
    authorize(&shared, &headers)?;
    check_account(&shared, &account)?;
    let query = read_query(query)?;
    let page = positive_param(&query, "page", 1)?;
    let limit = positive_param(&query, "limit", 1000)?;
    Ok(Json(labels::page(page, limit)))
}

fn read_query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(query)| query)
        .map_err(|e| ApiError::invalid_input(format!("the query string could not be read: {e}")))
}

fn positive_param(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
) -> Result<usize, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                ApiError::invalid_input(format!(
                    "{name} must be a whole number from 1, got `{text}`"
                ))
            }),
    }
}

async fn admin_counters(State(shared): State<SharedState>) -> Json<crate::Counters> {
    Json(shared.counters())
}

async fn admin_records(State(shared): State<SharedState>) -> Json<Vec<crate::StoredRecord>> {
    Json(shared.stored_records())
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!(
            "no endpoint {method} {}; check the base URL and the path",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} does not accept {method}", uri.path()),
    )
}
