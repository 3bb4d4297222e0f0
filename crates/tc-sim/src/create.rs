//! `POST /v2/clients/{id}/dynamic_call_records`: auth, rate limit, faults, validation, store,
//! in that order.

use crate::fault::dropped_response;
use crate::routes::{authorize, check_account, human, now_millis, ApiError, SharedState};
use crate::state::{Incoming, RetryAfter};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;
use tc_core::wire::{CallRecordBody, CreateCallRecordsResponse};
use tc_core::{
    check_batch_size, CallerMemo, Code, Diagnostic, Field, RawRecord, Scalar, Validator,
};
use tokio::time::Instant;

pub(crate) async fn create_call_records(
    State(shared): State<SharedState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    shared.count_create_request();
    let token = authorize(&shared, &headers)?;
    check_account(&shared, &account)?;
    let config = &shared.config;
    shared
        .admit_create(&token, Instant::now())
        .map_err(|retry| {
            ApiError::too_many(
                retry,
                format!(
                    "at most {} requests per {} per token",
                    config.rate_per_minute,
                    human(config.rate_window)
                ),
            )
        })?;
    if shared.storm_hits() {
        return Err(ApiError::too_many(
            RetryAfter(Duration::from_secs(1)),
            "the service is shedding load (simulated 429 storm)",
        ));
    }
    if shared.roll(config.fail_rate) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "simulated internal error; nothing was stored, retry with backoff",
        ));
    }
    let body = body.map_err(ApiError::body_unreadable)?;
    let records = read_records(&body)?;
    let batch_id = shared.store(records);
    if shared.roll(config.drop_rate) {
        shared.count_dropped();
        return Ok(dropped_response());
    }
    // The simulator's ids are UUIDs, which are always valid batch ids.
    let batch_id = tc_core::BatchId::try_from(batch_id).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            e.to_string(),
        )
    })?;
    Ok(Json(CreateCallRecordsResponse::new(batch_id)).into_response())
}

/// Parses and checks a whole request body; any bad record refuses the whole batch.
fn read_records(body: &[u8]) -> Result<Vec<Incoming>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        call_records: Option<Vec<serde_json::Value>>,
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_input(format!(
            "the body must be JSON like {{\"call_records\": [...]}}: {e}"
        ))
    })?;
    let values = envelope
        .call_records
        .ok_or_else(|| ApiError::invalid_input("call_records is required"))?;
    check_batch_size(values.len()).map_err(|_| {
        ApiError::invalid_input(format!(
            "call_records must hold 1 to 500 records, got {}",
            values.len()
        ))
    })?;
    let validator = Validator::new(now_millis());
    // A batch's records usually share a caller or two: each is parsed once per request, which
    // keeps the simulator's answer, and so the benches' round trips, short.
    let mut memo = CallerMemo::new();
    let total = values.len();
    let mut first_problem = None;
    let mut invalid = 0usize;
    let mut records = Vec::with_capacity(total);
    for (index, value) in values.into_iter().enumerate() {
        match check_record(&validator, &mut memo, value) {
            Ok(record) => records.push(record),
            Err(diagnostic) => {
                invalid += 1;
                first_problem.get_or_insert_with(|| match diagnostic.field {
                    Some(_) => format!("call_records[{index}].{diagnostic}"),
                    None => format!("call_records[{index}]: {diagnostic}"),
                });
            }
        }
    }
    match first_problem {
        None => Ok(records),
        Some(problem) => Err(ApiError::invalid_input(format!(
            "{problem}; {invalid} of {total} records are invalid, so none were stored"
        ))),
    }
}

/// The first problem of one record: the `tc-core` rules, then the wire types, which are
/// stricter than what a user's file may hold (the API takes numbers as text, times as integers).
fn check_record(
    validator: &Validator,
    memo: &mut CallerMemo,
    value: serde_json::Value,
) -> Result<Incoming, Diagnostic> {
    let raw: RawRecord = serde_json::from_value(value).map_err(|e| {
        Diagnostic::new(
            None,
            Code::RecordUnreadable,
            format!("not a call record object: {e}"),
        )
    })?;
    let valid = validator
        .validate_with_memo(&raw, memo)
        .map_err(|problems| {
            problems.into_iter().next().unwrap_or_else(|| {
                Diagnostic::new(
                    None,
                    Code::RecordUnreadable,
                    "the record was refused without a reason",
                )
            })
        })?;
    let text = |field: Field| -> Result<Option<String>, Diagnostic> {
        match raw.get(field) {
            None => Ok(None),
            Some(Scalar::Text(text)) => Ok(Some(text.clone())),
            Some(other) => Err(wire_type(field, "text", other)),
        }
    };
    let integer = |field: Field| -> Result<i64, Diagnostic> {
        match raw.get(field) {
            Some(Scalar::Int(ms)) => Ok(*ms),
            Some(other) => Err(wire_type(field, "an integer of epoch milliseconds", other)),
            None => Err(Diagnostic::new(
                field,
                Code::MissingField,
                format!("{field} is required"),
            )),
        }
    };
    let required_text = |field: Field| -> Result<String, Diagnostic> {
        text(field)?.ok_or_else(|| {
            Diagnostic::new(field, Code::MissingField, format!("{field} is required"))
        })
    };
    let body = CallRecordBody {
        caller_number: required_text(Field::CallerNumber)?,
        receiver_number: required_text(Field::ReceiverNumber)?,
        dynamic_label_name: text(Field::DynamicLabelName)?,
        dynamic_call_reason: text(Field::DynamicCallReason)?,
        label_id: text(Field::LabelId)?,
        starts_at: integer(Field::StartsAt)?,
        ends_at: integer(Field::EndsAt)?,
    };
    let key = (
        valid.caller_number().as_str().to_owned(),
        valid.receiver_number().as_str().to_owned(),
        valid.starts_at().as_i64(),
        valid.ends_at().as_i64(),
    );
    Ok(Incoming { body, key })
}

fn wire_type(field: Field, expected: &str, found: &Scalar) -> Diagnostic {
    Diagnostic::new(
        field,
        Code::WrongType,
        format!(
            "the API takes {field} as {expected}, found {}",
            found.kind()
        ),
    )
}
