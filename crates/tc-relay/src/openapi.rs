//! The relay's own API as an OpenAPI 3 document, generated from the handlers' and types'
//! annotations (utoipa) and served at `/openapi.json`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tcbatch relay",
        description = "Post call records one by one; the relay stores them durably and sends \
                       them to Truecaller's Call Personalisation Batch v2 API in full batches."
    ),
    paths(
        paths::post_records,
        paths::get_record,
        paths::healthz,
        paths::readyz,
        paths::metrics
    ),
    components(schemas(
        crate::store::PostAnswer,
        crate::store::Accepted,
        crate::intake::Problem,
        crate::status::TrackedRecord,
        crate::refusal::ErrorBody,
        crate::refusal::ErrorCode
    ))
)]
struct RelayApi;

/// The OpenAPI document of the relay's API.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    RelayApi::openapi()
}

/// The operations as utoipa reads them; the handlers themselves are in `api`.
mod paths {
    #![allow(dead_code)]
    use crate::refusal::ErrorBody;
    use crate::status::TrackedRecord;
    use crate::store::PostAnswer;

    /// Queue call records: one record object, `{"call_records": [...]}` or an array. Each
    /// record may carry an `external_id`; a post may carry an `Idempotency-Key` header. The
    /// answer comes only once the valid records are durable on disk. The body must be declared
    /// `application/json` (a `+json` type, `charset=utf-8`, are fine).
    #[utoipa::path(
        post,
        path = "/v1/call-records",
        params(("Idempotency-Key" = Option<String>, Header, description = "repeat it when retrying a post")),
        request_body(content = serde_json::Value, content_type = "application/json"),
        responses(
            (status = 202, description = "valid records stored (invalid ones listed)", body = PostAnswer),
            (status = 400, description = "the body is not records (`unreadable_body`), or the \
                Idempotency-Key cannot be used (`invalid_idempotency_key`)", body = ErrorBody),
            (status = 401, description = "a producer key is required (`unauthorized`)", body = ErrorBody),
            (status = 413, description = "the body is over 8 MiB (`body_too_large`)", body = ErrorBody),
            (status = 415, description = "the body is not declared `application/json` \
                (`unsupported_media_type`)", body = ErrorBody),
            (status = 422, description = "no record is valid (a `PostAnswer` with the problems), \
                or the `Idempotency-Key` was used before for a different body \
                (`idempotency_key_reused`, an `ErrorBody` naming the key)", body = PostAnswer),
            (status = 503, description = "the queue is full (`queue_full`), the relay is \
                stopping (`shutting_down`) or the records could not be stored \
                (`store_unavailable`); see Retry-After", body = ErrorBody)
        )
    )]
    fn post_records() {}

    /// What became of one record.
    #[utoipa::path(
        get,
        path = "/v1/call-records/{id}",
        params(("id" = String, Path, description = "the id the post answered, such as r17-9f86d081884c7d65; its number alone, or another tag, is answered 404")),
        responses(
            (status = 200, body = TrackedRecord),
            (status = 400, description = "not a record id (`invalid_record_id`)", body = ErrorBody),
            (status = 401, description = "a producer key is required (`unauthorized`)", body = ErrorBody),
            (status = 404, description = "never acknowledged, purged, or not the whole id the post \
                answered (`record_not_found`)", body = ErrorBody),
            (status = 503, description = "the store cannot be read (`store_unavailable`); see \
                Retry-After", body = ErrorBody)
        )
    )]
    fn get_record() {}

    /// The process is up.
    #[utoipa::path(get, path = "/healthz", responses((status = 200)))]
    fn healthz() {}

    /// The relay takes posts.
    #[utoipa::path(
        get,
        path = "/readyz",
        responses(
            (status = 200, description = "ready", content_type = "text/plain"),
            (status = 503, description = "not ready: `shutting_down`, `queue_full`, \
                `store_failing` (the last group commit failed) or `sending_paused` (the message \
                names the reason); see Retry-After", body = ErrorBody)
        )
    )]
    fn readyz() {}

    /// Prometheus metrics.
    #[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain")))]
    fn metrics() {}
}
