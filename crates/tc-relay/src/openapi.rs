//! The relay's own API as an OpenAPI 3.1 document, served at `/openapi.json`: the operations and
//! their answers from the handlers' annotations (utoipa), and the schemas of what a producer
//! sends from the constants the relay enforces them with (`schema.rs`).
//!
//! Every status an operation can answer is listed, each with the body it carries: an error's is
//! `ErrorBody`, as `refusal.rs` writes every one. `cargo xtask contract` holds the relay to this
//! document with a fuzzer.

use serde_json::Value;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// What the description says of the one answer that is not the relay's.
const UNPARSED_REQUESTS: &str = "Every error answer of the relay is JSON, `{\"error\", \"code\"}` \
(`ErrorBody`). One kind of request never reaches it: one the HTTP layer cannot parse (a control \
character other than tab in a header value, such as `Idempotency-Key`; a header section too \
large) gets the HTTP library's own `400` (or `431`) with an empty body, and its connection is \
closed. The server offers no hook to answer it otherwise, and dropping the header instead would \
lose an `Idempotency-Key`.";

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
        paths::metrics,
        paths::openapi
    ),
    components(schemas(
        crate::store::PostAnswer,
        crate::store::Accepted,
        crate::intake::Problem,
        crate::status::TrackedRecord,
        crate::refusal::ErrorBody,
        crate::refusal::ErrorCode,
        paths::Unprocessable
    )),
    modifiers(&ProducerKey)
)]
struct RelayApi;

/// The scheme of `--producer-keys`: `Authorization: Bearer <key>`.
struct ProducerKey;

impl Modify for ProducerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A producer key, when the relay runs with --producer-keys; without them the \
                 relay takes requests without one.",
            ))
            .build();
        components.add_security_scheme("producer_key", SecurityScheme::Http(scheme));
    }
}

/// The OpenAPI document of the relay's API, built once: it depends on nothing but the code.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn build() -> Value {
    let mut document =
        serde_json::to_value(RelayApi::openapi()).expect("an OpenAPI document is JSON");
    let description = &mut document["info"]["description"];
    let intro = description.as_str().unwrap_or_default().to_owned();
    *description = Value::String(format!("{intro}\n\n{UNPARSED_REQUESTS}"));
    let schemas = &mut document["components"]["schemas"];
    for (name, schema) in crate::schema::components() {
        schemas[name] = schema;
    }
    let post = "/v1/call-records";
    let get = "/v1/call-records/{id}";
    *parameter(&mut document, post, "post", "Idempotency-Key") = crate::schema::idempotency_key();
    *parameter(&mut document, get, "get", "id") = crate::schema::record_id();
    document["paths"][post]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        serde_json::json!({ "$ref": format!("#/components/schemas/{}", crate::schema::POST_BODY) });
    document
}

/// The schema of the parameter `name` of an operation, which its annotation declares.
fn parameter<'a>(document: &'a mut Value, path: &str, method: &str, name: &str) -> &'a mut Value {
    document["paths"][path][method]["parameters"]
        .as_array_mut()
        .and_then(|parameters| parameters.iter_mut().find(|p| p["name"] == name))
        .map(|parameter| &mut parameter["schema"])
        .unwrap_or_else(|| panic!("{method} {path} declares no parameter {name}"))
}

/// The operations as utoipa reads them; the handlers themselves are in `api`.
mod paths {
    #![allow(dead_code)]
    use crate::refusal::ErrorBody;
    use crate::status::TrackedRecord;
    use crate::store::PostAnswer;

    /// A `422`'s body: the answer listing every record's problems when none is valid, or the
    /// error of an `Idempotency-Key` used before for another body.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    #[serde(untagged)]
    pub(crate) enum Unprocessable {
        /// No record is valid: each one's problems.
        NoValidRecord(PostAnswer),
        /// `idempotency_key_reused`.
        KeyReused(ErrorBody),
    }

    /// Queue call records: one record object, `{"call_records": [...]}` or an array. Each
    /// record may carry an `external_id`; a post may carry an `Idempotency-Key` header. The
    /// answer comes only once the valid records are durable on disk. The body must be declared
    /// `application/json` (a `+json` type, `charset=utf-8`, are fine).
    #[utoipa::path(
        post,
        path = "/v1/call-records",
        params(("Idempotency-Key" = Option<String>, Header, description = "repeat it when \
            retrying a post: visible ASCII (spaces inside are kept, spaces around it trimmed), \
            as long as the schema allows")),
        request_body(content = serde_json::Value, content_type = "application/json"),
        security((), ("producer_key" = [])),
        responses(
            (status = 202, description = "valid records stored (invalid ones listed)", body = PostAnswer),
            (status = 400, description = "the body is not records (`unreadable_body`), or the \
                Idempotency-Key cannot be used (`invalid_idempotency_key`)", body = ErrorBody),
            (status = 401, description = "a producer key is required (`unauthorized`)",
                body = ErrorBody, headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
            (status = 413, description = "the body is larger than the relay takes (`body_too_large`; \
                `PostBody` says how large)", body = ErrorBody),
            (status = 415, description = "the body is not declared `application/json` \
                (`unsupported_media_type`)", body = ErrorBody),
            (status = 422, description = "no record is valid (a `PostAnswer` with the problems), \
                or the `Idempotency-Key` was used before for a different body \
                (`idempotency_key_reused`, an `ErrorBody` naming the key)", body = Unprocessable),
            (status = 503, description = "the queue is full (`queue_full`), the relay is \
                stopping (`shutting_down`) or the records could not be stored \
                (`store_unavailable`): nothing of the post is acknowledged", body = ErrorBody,
                headers(("Retry-After" = u32, description = "seconds to wait before posting again")))
        )
    )]
    fn post_records() {}

    /// What became of one record.
    #[utoipa::path(
        get,
        path = "/v1/call-records/{id}",
        params(("id" = String, Path, description = "the id the post answered, such as \
            r17-9f86d081884c7d65; its number alone, or another tag, is answered 404")),
        security((), ("producer_key" = [])),
        responses(
            (status = 200, body = TrackedRecord),
            (status = 400, description = "not of an id's form (`invalid_record_id`)", body = ErrorBody),
            (status = 401, description = "a producer key is required (`unauthorized`)",
                body = ErrorBody, headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
            (status = 404, description = "never acknowledged, purged, not the whole id the post \
                answered, or another producer's (`record_not_found`)", body = ErrorBody),
            (status = 503, description = "the store cannot be read (`store_unavailable`)",
                body = ErrorBody,
                headers(("Retry-After" = u32, description = "seconds to wait before asking again")))
        )
    )]
    fn get_record() {}

    /// The process is up.
    #[utoipa::path(
        get,
        path = "/healthz",
        responses((status = 200, description = "up", body = String, content_type = "text/plain"))
    )]
    fn healthz() {}

    /// The relay takes posts and sends them.
    #[utoipa::path(
        get,
        path = "/readyz",
        responses(
            (status = 200, description = "ready", body = String, content_type = "text/plain"),
            (status = 503, description = "not ready: `shutting_down`, `queue_full`, \
                `store_failing` (the last group commit failed) or `sending_paused` (the message \
                names the reason)", body = ErrorBody,
                headers(("Retry-After" = u32, description = "seconds to wait before asking again")))
        )
    )]
    fn readyz() {}

    /// Prometheus metrics.
    #[utoipa::path(
        get,
        path = "/metrics",
        responses((status = 200, description = "Prometheus text format 0.0.4", body = String,
            content_type = "text/plain"))
    )]
    fn metrics() {}

    /// This document.
    #[utoipa::path(
        get,
        path = "/openapi.json",
        responses((status = 200, description = "the OpenAPI 3.1 document of the relay's API",
            body = Object, content_type = "application/json"))
    )]
    fn openapi() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_the_schemas_of_what_a_producer_sends() {
        let document = document();
        let post = &document["paths"]["/v1/call-records"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/PostBody"
        );
        for name in ["PostBody", "CallRecordIn", "ErrorBody", "Unprocessable"] {
            assert!(
                document["components"]["schemas"][name].is_object(),
                "{name}"
            );
        }
        let key = &post["parameters"][0];
        assert_eq!(key["name"], "Idempotency-Key");
        assert_eq!(key["schema"]["maxLength"], 200);
        let id = &document["paths"]["/v1/call-records/{id}"]["get"]["parameters"][0];
        assert_eq!(id["schema"]["pattern"], crate::status::RecordId::pattern());
    }

    #[test]
    fn a_422_is_either_body_the_relay_answers_it_with() {
        let document = document();
        let schema = &document["paths"]["/v1/call-records"]["post"]["responses"]["422"]["content"]
            ["application/json"]["schema"]["$ref"];
        assert_eq!(schema, "#/components/schemas/Unprocessable");
        let one_of = &document["components"]["schemas"]["Unprocessable"]["oneOf"];
        let refs: Vec<&str> = one_of
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["$ref"].as_str())
            .collect();
        assert_eq!(
            refs,
            [
                "#/components/schemas/PostAnswer",
                "#/components/schemas/ErrorBody"
            ]
        );
    }
}
