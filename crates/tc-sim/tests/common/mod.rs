//! Shared helpers of the integration tests: a started simulator, a token, valid records.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use tc_sim::{SimConfig, Simulator};

pub struct Harness {
    pub sim: Simulator,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start(config: SimConfig) -> Harness {
        let sim = Simulator::start(config).await.expect("simulator starts");
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap();
        Harness { sim, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path)
    }

    pub fn account(&self) -> String {
        self.sim.config().client_account_id.clone()
    }

    pub fn records_path(&self) -> String {
        format!("/v2/clients/{}/dynamic_call_records", self.account())
    }

    pub async fn token_response(&self) -> reqwest::Response {
        let c = self.sim.config();
        self.http
            .post(self.url(&format!("/clients/{}/token", c.client_account_id)))
            .header("X-Public-Access", "allow")
            .json(&json!({"key_id": c.key_id, "api_key": c.api_key}))
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self) -> String {
        let response = self.token_response().await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn create(&self, token: &str, records: &[Value]) -> reqwest::Response {
        self.http
            .post(self.url(&self.records_path()))
            .bearer_auth(token)
            .json(&json!({"call_records": records}))
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The source page's example record, with the masked numbers filled in and the window moved
/// to start in a minute and end a day later (the example's own window lies in the past).
pub fn example_record() -> Value {
    let starts_at = now_ms() + 60_000;
    json!({
        "label_id": "c6d86658-008d-4c08-98fb-2bf2649d59a5",
        "dynamic_label_name": "Centro Bank KYC Department",
        "dynamic_call_reason": "Calling you for KYC Verification",
        "caller_number": "+919876543210",
        "receiver_number": "919876543211",
        "starts_at": starts_at,
        "ends_at": starts_at + 86_400_000,
    })
}

/// A valid record to a distinct Indian mobile number for each `n` below 10,000.
pub fn record(n: u32) -> Value {
    let mut record = example_record();
    record["receiver_number"] = json!(format!("+91987650{n:04}"));
    record
}

pub async fn error_body(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let text = |k: &str| {
        body[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {body}"))
            .to_owned()
    };
    (status, text("slug"), text("message"))
}
