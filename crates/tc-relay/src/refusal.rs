//! Every error answer of the relay's API, in one JSON shape: `{"error": "...", "code": "..."}`.
//! `error` is for a person (what happened, what to do next); `code` is for a program, one of
//! [`ErrorCode`]'s names, which never change once released. The status follows from the code, so
//! two places can never answer one refusal with two statuses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Seconds a producer is asked to wait before trying again after a `503`.
const RETRY_AFTER_SECONDS: &str = "1";

/// Why the relay refused a request: the `code` of its error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    /// `400`: the body is not records.
    UnreadableBody,
    /// `400`: the `Idempotency-Key` is empty, too long or not visible ASCII.
    InvalidIdempotencyKey,
    /// `400`: the path names no record id (such as `r17-9f86d081884c7d65`).
    InvalidRecordId,
    /// `401`: no valid producer key in `Authorization: Bearer`.
    Unauthorized,
    /// `422`: the `Idempotency-Key` was used before for a different body.
    IdempotencyKeyReused,
    /// `404`: no such endpoint.
    NotFound,
    /// `404`: no such record.
    RecordNotFound,
    /// `405`: the endpoint does not take this method.
    MethodNotAllowed,
    /// `413`: the body is larger than the relay takes.
    BodyTooLarge,
    /// `415`: the body is not declared JSON (`Content-Type: application/json`).
    UnsupportedMediaType,
    /// `503`: the queue holds `--queue-limit` records.
    QueueFull,
    /// `503`: the relay is stopping.
    ShuttingDown,
    /// `503`: the store could not be written or read for this request.
    StoreUnavailable,
    /// `503` from `/readyz`: the last group commit failed, and none has succeeded since.
    StoreFailing,
    /// `503` from `/readyz`: sending is paused while records wait.
    SendingPaused,
}

impl ErrorCode {
    fn status(self) -> StatusCode {
        match self {
            ErrorCode::UnreadableBody
            | ErrorCode::InvalidIdempotencyKey
            | ErrorCode::InvalidRecordId => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NotFound | ErrorCode::RecordNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::QueueFull
            | ErrorCode::ShuttingDown
            | ErrorCode::StoreUnavailable
            | ErrorCode::StoreFailing
            | ErrorCode::SendingPaused => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What happened and what to do next, for a person.
    #[schema(example = "a producer key is required: send Authorization: Bearer <key>")]
    pub error: String,
    /// Why, for a program.
    pub code: ErrorCode,
}

/// The error answer for `code`, with its status and the headers that status asks for: a
/// `503` says when to try again, a `401` which scheme it wants.
pub(crate) fn refuse(code: ErrorCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
        code,
    };
    let mut response = (code.status(), Json(body)).into_response();
    let headers = response.headers_mut();
    match code.status() {
        StatusCode::SERVICE_UNAVAILABLE => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        StatusCode::UNAUTHORIZED => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    response
}
