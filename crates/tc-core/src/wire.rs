//! The API's JSON bodies, with the field names of the documentation. Responses tolerate unknown
//! fields; optional request fields are left out rather than sent as `null`.
//!
//! Request bodies have public fields, so that a request can be built by hand; response bodies
//! are `#[non_exhaustive]`, because the API adds fields to its answers.

use crate::input::{RawRecord, Scalar};
use crate::Field;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// One call record in a create request, exactly as the API reads it.
///
/// Built by [`CallRecord::to_wire`](crate::CallRecord::to_wire) from a validated record, or by
/// hand; a hand-built one is checked with the same rules through its [`RawRecord`]
/// (`RawRecord::from(&body)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallRecordBody {
    /// The business's number the call comes from, E.164 (`+919876543210`).
    pub caller_number: String,
    /// The customer's number, E.164.
    pub receiver_number: String,
    /// The name the customer's phone shows; required unless `label_id` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_label_name: Option<String>,
    /// Why the business calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_call_reason: Option<String>,
    /// The id (a UUID) of a dynamic label from the business console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_id: Option<String>,
    /// When the phone starts showing the caller ID, epoch milliseconds.
    pub starts_at: i64,
    /// When it stops, epoch milliseconds; at most 24 hours after `starts_at`.
    pub ends_at: i64,
}

/// The body's values as input to the rules: numbers and texts as text, times as integers.
impl From<&CallRecordBody> for RawRecord {
    fn from(body: &CallRecordBody) -> RawRecord {
        let mut raw = RawRecord::default();
        raw.set_text(Field::CallerNumber, &body.caller_number);
        raw.set_text(Field::ReceiverNumber, &body.receiver_number);
        let texts = [
            (Field::DynamicLabelName, &body.dynamic_label_name),
            (Field::DynamicCallReason, &body.dynamic_call_reason),
            (Field::LabelId, &body.label_id),
        ];
        for (field, text) in texts {
            if let Some(text) = text {
                raw.set_text(field, text);
            }
        }
        raw.set(Field::StartsAt, Some(Scalar::Int(body.starts_at)));
        raw.set(Field::EndsAt, Some(Scalar::Int(body.ends_at)));
        raw
    }
}

/// `POST /v2/clients/{clientAccountId}/dynamic_call_records` body: 1 to 500 records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreateCallRecordsRequest {
    /// The records, in the order the API numbers them.
    pub call_records: Vec<CallRecordBody>,
}

/// 200 answer to a create request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateCallRecordsResponse {
    /// The id to ask the batch's delivery with.
    pub batch_id: BatchId,
}

impl CreateCallRecordsResponse {
    /// The answer for an accepted batch.
    pub fn new(batch_id: BatchId) -> Self {
        CreateCallRecordsResponse { batch_id }
    }
}

/// The longest `batch_id` taken as one: the API's are UUIDs, so anything near this long is not
/// the API talking.
pub const MAX_BATCH_ID_LEN: usize = 256;

/// The id the API gives an accepted batch. Opaque (not always a UUID), but never empty, at most
/// [`MAX_BATCH_ID_LEN`] characters and free of control characters, so that it can be printed,
/// journaled and sent back in a query.
///
/// ```
/// use tc_core::BatchId;
///
/// let id: BatchId = "9b2f7c1e-6a55-4d4b-b0a1-2f7f2d0c6e11".parse()?;
/// assert_eq!(id.as_str(), "9b2f7c1e-6a55-4d4b-b0a1-2f7f2d0c6e11");
/// assert!("".parse::<BatchId>().is_err());
/// # Ok::<(), tc_core::BatchIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BatchId(String);

impl BatchId {
    /// The id as the API wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BatchId {
    type Err = BatchIdError;

    fn from_str(text: &str) -> Result<BatchId, BatchIdError> {
        BatchId::try_from(text.to_owned())
    }
}

impl TryFrom<String> for BatchId {
    type Error = BatchIdError;

    fn try_from(text: String) -> Result<BatchId, BatchIdError> {
        let length = text.chars().count();
        if text.trim().is_empty() {
            Err(BatchIdError::Empty)
        } else if length > MAX_BATCH_ID_LEN {
            Err(BatchIdError::TooLong { length })
        } else if text.chars().any(char::is_control) {
            Err(BatchIdError::ControlCharacter)
        } else {
            Ok(BatchId(text))
        }
    }
}

impl TryFrom<&str> for BatchId {
    type Error = BatchIdError;

    fn try_from(text: &str) -> Result<BatchId, BatchIdError> {
        text.parse()
    }
}

impl From<BatchId> for String {
    fn from(id: BatchId) -> String {
        id.0
    }
}

impl PartialEq<str> for BatchId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for BatchId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<str> for BatchId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BatchId({})", self.0)
    }
}

/// Why a text is not a batch id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchIdError {
    /// Empty or blank.
    Empty,
    /// Longer than [`MAX_BATCH_ID_LEN`] characters.
    TooLong {
        /// Its length, in characters.
        length: usize,
    },
    /// Holds a control character, which no id the API gives does.
    ControlCharacter,
}

impl fmt::Display for BatchIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchIdError::Empty => f.write_str("the batch id is empty; give the id a create answer returned"),
            BatchIdError::TooLong { length } => write!(
                f,
                "a batch id of {length} characters is longer than the {MAX_BATCH_ID_LEN} any id of the API has; check what was pasted"
            ),
            BatchIdError::ControlCharacter => f.write_str("the batch id holds a control character; check what was pasted"),
        }
    }
}

impl std::error::Error for BatchIdError {}

/// Every documented error body: `{"slug": "authorization-error", "message": "please login again"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiErrorBody {
    /// A stable name for the error, such as `authorization-error`.
    #[serde(default)]
    pub slug: String,
    /// A sentence for a person.
    #[serde(default)]
    pub message: String,
}

impl ApiErrorBody {
    /// An error body, as the simulator answers.
    pub fn new(slug: impl Into<String>, message: impl Into<String>) -> Self {
        ApiErrorBody {
            slug: slug.into(),
            message: message.into(),
        }
    }
}

/// `POST /clients/{clientAccountId}/token` body. Holds the secret: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// The id of the account's API key.
    pub key_id: String,
    /// The API key itself: a secret.
    pub api_key: String,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("key_id", &self.key_id)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// 200 answer to a token request. A token lives 60 minutes from `created_at`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The bearer token: a secret.
    pub token: String,
    /// When the API created it, RFC 3339.
    pub created_at: String,
}

impl TokenResponse {
    /// A token answer, as the simulator gives one.
    pub fn new(token: impl Into<String>, created_at: impl Into<String>) -> Self {
        TokenResponse {
            token: token.into(),
            created_at: created_at.into(),
        }
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"[redacted]")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// `GET /v2/clients/{clientAccountId}/dynamic_call_records?batchId=...` answer.
///
/// `Default` and public fields let a simulator or a test build one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchStatusResponse {
    /// The account, as the API echoes it.
    #[serde(default)]
    pub client_account_id: String,
    /// The batch, as the API echoes it (not checked: the id asked for is the one that counts).
    #[serde(default)]
    pub batch_id: String,
    /// One entry per record of the batch.
    #[serde(default)]
    pub data: Vec<RecordStatus>,
}

/// One record of a batch as Truecaller processed it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecordStatus {
    /// The API's id of the record, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The caller's number, as the API stored it.
    #[serde(default)]
    pub caller_number: String,
    /// The customer's number, as the API stored it: what a report matches records by.
    #[serde(default)]
    pub receiver_number: String,
    /// The label id sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_id: Option<String>,
    /// The label name sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_label_name: Option<String>,
    /// The call reason sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_call_reason: Option<String>,
    /// The window's start, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<i64>,
    /// The window's end, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
    /// Where the record's delivery stands.
    #[serde(default)]
    pub status_info: StatusInfo,
}

/// `{"status": "success"}`, a failure reason, or a status saying the record is still on its
/// way (`pending`, `processing`, `queued`); read it with [`StatusInfo::delivery`]. The default
/// is an empty status: no answer yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusInfo {
    /// The status as the API wrote it.
    pub status: String,
    /// The API's sentence about a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl StatusInfo {
    /// A status as the API would write it.
    pub fn new(delivery: &DeliveryStatus, message: Option<String>) -> StatusInfo {
        StatusInfo {
            status: delivery.as_str().to_owned(),
            message,
        }
    }

    /// The record's delivery. A record the API has not processed yet is
    /// [`DeliveryStatus::Pending`] (or processing, or queued), not a failure: check
    /// [`DeliveryStatus::is_settled`] before reporting it.
    ///
    /// ```
    /// use tc_core::wire::{DeliveryStatus, StatusInfo};
    ///
    /// let info = StatusInfo::new(&DeliveryStatus::Pending, None);
    /// assert_eq!(info.delivery(), DeliveryStatus::Pending);
    /// assert!(!info.delivery().is_settled());
    /// ```
    pub fn delivery(&self) -> DeliveryStatus {
        DeliveryStatus::parse(&self.status)
    }
}

/// A record's delivery, from the status endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// The customer's phone received the caller ID.
    Success,
    /// Not processed yet (also what an empty status means).
    Pending,
    /// Being processed.
    Processing,
    /// Waiting to be processed.
    Queued,
    /// The customer does not use Truecaller: nothing can show.
    NotTruecallerUser,
    /// The customer's phone runs a system Truecaller cannot show this on.
    OsNotSupported,
    /// The customer's Truecaller app is too old to show it.
    AppVersionNotSupported,
    /// Truecaller could not push it to the phone.
    PushFailed,
    /// A status this version does not know, kept as the API wrote it.
    Other(String),
}

impl DeliveryStatus {
    /// Reads the API's `status_info.status`. An empty status means no answer yet: pending.
    pub fn parse(text: &str) -> DeliveryStatus {
        match text {
            "success" => DeliveryStatus::Success,
            "" | "pending" => DeliveryStatus::Pending,
            "processing" => DeliveryStatus::Processing,
            "queued" => DeliveryStatus::Queued,
            "not_truecaller_user" => DeliveryStatus::NotTruecallerUser,
            "os_not_supported" => DeliveryStatus::OsNotSupported,
            "app_version_not_supported" => DeliveryStatus::AppVersionNotSupported,
            "push_failed" => DeliveryStatus::PushFailed,
            other => DeliveryStatus::Other(other.to_owned()),
        }
    }

    /// The status as the API writes it.
    pub fn as_str(&self) -> &str {
        match self {
            DeliveryStatus::Success => "success",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Processing => "processing",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::NotTruecallerUser => "not_truecaller_user",
            DeliveryStatus::OsNotSupported => "os_not_supported",
            DeliveryStatus::AppVersionNotSupported => "app_version_not_supported",
            DeliveryStatus::PushFailed => "push_failed",
            DeliveryStatus::Other(text) => text,
        }
    }

    /// Whether the API has decided this record's delivery. The one place that decides it:
    /// pending, processing and queued are still on their way; everything else is final.
    pub fn is_settled(&self) -> bool {
        !matches!(
            self,
            DeliveryStatus::Pending | DeliveryStatus::Processing | DeliveryStatus::Queued
        )
    }

    /// Whether the customer's phone was reached.
    pub fn is_delivered(&self) -> bool {
        *self == DeliveryStatus::Success
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Never fails: a status this version does not know is [`DeliveryStatus::Other`].
impl FromStr for DeliveryStatus {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<DeliveryStatus, Self::Err> {
        Ok(DeliveryStatus::parse(text))
    }
}

impl From<&str> for DeliveryStatus {
    fn from(text: &str) -> DeliveryStatus {
        DeliveryStatus::parse(text)
    }
}

impl Serialize for DeliveryStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeliveryStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(DeliveryStatus::parse(&text))
    }
}

/// One of the account's labels (`GET /clients/{clientAccountId}/labels`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Label {
    /// The id to give as a record's `label_id`.
    pub id: String,
    /// The name the label shows.
    #[serde(default)]
    pub name: String,
    /// The label's kind, as the API names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_type: Option<String>,
    /// Where the label's logo is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// The label's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The label's sub-category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_email: Option<String>,
    /// When it was created, as the API wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When it last changed, as the API wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When it was deleted, as the API wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_page_example_round_trips() {
        let body = r#"{"call_records":[{"label_id":"c6d86658-008d-4c08-98fb-2bf2649d59a5",
            "dynamic_label_name":"Centro Bank KYC Department",
            "dynamic_call_reason":"Calling you for KYC Verification",
            "caller_number":"+919876543210","receiver_number":"919876543211",
            "starts_at":1753246858000,"ends_at":1753362058000}]}"#;
        let parsed: CreateCallRecordsRequest = serde_json::from_str(body).unwrap();
        let again: CreateCallRecordsRequest =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
        assert_eq!(parsed.call_records[0].starts_at, 1_753_246_858_000);
    }

    #[test]
    fn status_tolerates_unknown_fields_and_keeps_failures() {
        let body = r#"{"client_account_id":"a","batch_id":"b","extra":1,"data":[
            {"id":"1","caller_number":"+1","receiver_number":"+2","status_info":{"status":"success"},"new":true},
            {"id":"2","caller_number":"+1","receiver_number":"+3","status_info":{"status":"not_truecaller_user","message":"receiver is not a Truecaller user","code":7}}]}"#;
        let status: BatchStatusResponse = serde_json::from_str(body).unwrap();
        assert_eq!(
            status.data[0].status_info.delivery(),
            DeliveryStatus::Success
        );
        let failed = &status.data[1].status_info;
        assert_eq!(failed.delivery(), DeliveryStatus::NotTruecallerUser);
        assert!(failed.delivery().is_settled() && !failed.delivery().is_delivered());
        assert_eq!(
            failed.message.as_deref(),
            Some("receiver is not a Truecaller user")
        );
    }

    #[test]
    fn only_pending_processing_and_queued_deliveries_are_unsettled() {
        for text in ["", "pending", "processing", "queued"] {
            assert!(!DeliveryStatus::parse(text).is_settled(), "{text}");
        }
        for text in ["success", "push_failed", "something_new"] {
            let status = DeliveryStatus::parse(text);
            assert!(status.is_settled(), "{text}");
            assert_eq!(status.as_str(), text);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(
                serde_json::from_str::<DeliveryStatus>(&json).unwrap(),
                status
            );
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let req = TokenRequest {
            key_id: "k".into(),
            api_key: "s3cr3t".into(),
        };
        let resp = TokenResponse {
            token: "t0k3n".into(),
            created_at: "now".into(),
        };
        assert!(!format!("{req:?}").contains("s3cr3t"));
        assert!(!format!("{resp:?}").contains("t0k3n"));
    }
}
