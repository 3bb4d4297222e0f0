//! The API's JSON bodies, with the field names of the documentation. Responses tolerate unknown
//! fields; optional request fields are left out rather than sent as `null`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One call record in a create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecordBody {
    pub caller_number: String,
    pub receiver_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_label_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_call_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_id: Option<String>,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// `POST /v2/clients/{clientAccountId}/dynamic_call_records` body: 1 to 500 records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateCallRecordsRequest {
    pub call_records: Vec<CallRecordBody>,
}

/// 200 answer to a create request. The id is opaque: not always a UUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateCallRecordsResponse {
    pub batch_id: String,
}

/// Every documented error body: `{"slug": "authorization-error", "message": "please login again"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub message: String,
}

/// `POST /clients/{clientAccountId}/token` body. Holds the secret: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub key_id: String,
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
pub struct TokenResponse {
    pub token: String,
    pub created_at: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStatusResponse {
    #[serde(default)]
    pub client_account_id: String,
    #[serde(default)]
    pub batch_id: String,
    #[serde(default)]
    pub data: Vec<RecordStatus>,
}

/// One record of a batch as Truecaller processed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub caller_number: String,
    #[serde(default)]
    pub receiver_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_label_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_call_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
    pub status_info: StatusInfo,
}

/// `{"status": "success"}`, a failure reason, or a status saying the record is still on its
/// way (`pending`, `processing`, `queued`); read it with [`StatusInfo::delivery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl StatusInfo {
    /// The record's delivery. A record the API has not processed yet is
    /// [`DeliveryStatus::Pending`] (or processing, or queued), not a failure: check
    /// [`DeliveryStatus::is_settled`] before reporting it.
    ///
    /// ```
    /// use tc_core::wire::{DeliveryStatus, StatusInfo};
    ///
    /// let info = StatusInfo { status: "pending".into(), message: None };
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
    Success,
    Pending,
    Processing,
    Queued,
    NotTruecallerUser,
    OsNotSupported,
    AppVersionNotSupported,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
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
