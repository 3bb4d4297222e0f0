//! The documented flow and the documented errors, over real loopback HTTP.

mod common;

use common::{error_body, example_record, record, Harness};
use serde_json::{json, Value};
use tc_sim::{expected_outcome, expected_status, SimConfig};

#[tokio::test(start_paused = true)]
async fn documented_flow_token_create_status_labels() {
    let h = Harness::start(SimConfig::demo()).await;
    let response = h.token_response().await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(
        token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    let created_at = body["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.parse::<tc_core::EpochMillis>().is_ok(),
        "{created_at}"
    );

    let example = example_record();
    let response = h.create(&token, std::slice::from_ref(&example)).await;
    assert_eq!(response.status(), 200);
    let batch_id = response.json::<Value>().await.unwrap()["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::try_parse(&batch_id).is_ok(), "{batch_id}");

    for version in ["v2", "v3"] {
        let path = format!(
            "/{version}/clients/{}/dynamic_call_records?batchId={batch_id}",
            h.account()
        );
        let response = h.get(&token, &path).await;
        assert_eq!(response.status(), 200, "{version}");
        let status: tc_core::wire::BatchStatusResponse = response.json().await.unwrap();
        assert_eq!(
            (status.client_account_id.as_str(), status.batch_id.as_str()),
            (h.account().as_str(), batch_id.as_str())
        );
        assert_eq!(status.data.len(), 1);
        let row = &status.data[0];
        assert!(row.id.is_some());
        assert_eq!(row.receiver_number, "919876543211");
        assert_eq!(
            row.label_id.as_deref(),
            Some("c6d86658-008d-4c08-98fb-2bf2649d59a5")
        );
        assert_eq!(row.starts_at, example["starts_at"].as_i64());
        assert_eq!(row.status_info.status, expected_status("+919876543211"));
    }

    let labels: Vec<tc_core::wire::Label> = h
        .get(
            &token,
            &format!("/clients/{}/labels?page=1&limit=1000", h.account()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(labels.len(), 5);
    assert!(labels
        .iter()
        .all(|l| l.label_type.as_deref() == Some("dynamic")
            && l.logo_url.is_some()
            && l.category.is_some()
            && l.sub_category.is_some()
            && l.created_by_email.is_some()
            && l.created_at.is_some()));
    let page2: Vec<Value> = h
        .get(
            &token,
            &format!("/clients/{}/labels?page=2&limit=2", h.account()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2.len(), 2);
    assert_eq!(page2[0]["id"], json!(labels[2].id));
    let past: Vec<Value> = h
        .get(
            &token,
            &format!("/clients/{}/labels?page=4&limit=2", h.account()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(past.is_empty());

    let counters = h.sim.counters();
    assert_eq!(
        (
            counters.tokens_created,
            counters.create_requests,
            counters.batches_stored,
            counters.records_stored
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(counters.requests_by_status.get(&200), Some(&7));
    let stored = h.sim.stored_records();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].batch_id, batch_id);
    assert_eq!(serde_json::to_value(&stored[0].record).unwrap(), example);
    h.sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn token_endpoint_errors() {
    let h = Harness::start(SimConfig::demo()).await;
    let c = h.sim.config().clone();
    let post = |account: &str, public: bool, body: Value| {
        let mut request = h
            .http
            .post(h.url(&format!("/clients/{account}/token")))
            .json(&body);
        if public {
            request = request.header("X-Public-Access", "allow");
        }
        request.send()
    };
    let good = json!({"key_id": c.key_id, "api_key": c.api_key});
    let (status, slug, _) = error_body(
        post(&c.client_account_id, false, good.clone())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, slug.as_str()), (403, "forbidden-error"));
    let missing = error_body(
        post(&c.client_account_id, true, json!({"key_id": c.key_id}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        missing,
        (400, "invalid-input".into(), "api_key is required".into())
    );
    let wrong = json!({"key_id": c.key_id, "api_key": "00000000-0000-4000-8000-000000000000"});
    let (status, slug, message) =
        error_body(post(&c.client_account_id, true, wrong).await.unwrap()).await;
    assert_eq!((status, slug.as_str()), (401, "authorization-error"));
    assert!(!message.contains(&c.api_key));
    let (status, slug, _) = error_body(
        post("11111111-2222-4333-8444-555555555555", true, good)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, slug.as_str()), (401, "authorization-error"));
    assert_eq!(h.sim.counters().tokens_created, 0);
}

#[tokio::test(start_paused = true)]
async fn create_errors_name_what_is_wrong() {
    let h = Harness::start(SimConfig::demo()).await;
    let token = h.token().await;

    let no_token = h
        .http
        .post(h.url(&h.records_path()))
        .json(&json!({"call_records": [record(1)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_body(no_token).await,
        (
            401,
            "authorization-error".into(),
            "please login again".into()
        )
    );
    let bad_token = h
        .create("0123456789abcdef0123456789abcdef", &[record(1)])
        .await;
    assert_eq!(error_body(bad_token).await.0, 401);

    let mut bad = record(3);
    bad["receiver_number"] = json!("+91 98765 4321O");
    let mut also_bad = record(4);
    also_bad["dynamic_label_name"] = json!("AB");
    let batch = [record(0), record(1), record(2), bad, also_bad];
    let (status, slug, message) = error_body(h.create(&token, &batch).await).await;
    assert_eq!((status, slug.as_str()), (400, "invalid-input"));
    assert!(
        message.starts_with("call_records[3].receiver_number: "),
        "{message}"
    );
    assert!(
        message.contains("[phone_has_letters]") && message.contains("2 of 5 records"),
        "{message}"
    );

    let mut text_time = record(5);
    let starts_at =
        tc_core::EpochMillis::try_from(text_time["starts_at"].as_i64().unwrap()).unwrap();
    text_time["starts_at"] = json!(starts_at.to_rfc3339());
    let (_, _, message) = error_body(h.create(&token, &[text_time]).await).await;
    assert!(
        message.starts_with("call_records[0].starts_at: ") && message.contains("[wrong_type]"),
        "{message}"
    );

    let (_, _, message) = error_body(h.create(&token, &[json!("not an object")]).await).await;
    assert!(
        message.starts_with("call_records[0]: ") && message.contains("[record_unreadable]"),
        "{message}"
    );

    let big: Vec<Value> = (0..501).map(record).collect();
    let too_many = error_body(h.create(&token, &big).await).await;
    assert_eq!(
        too_many,
        (
            400,
            "invalid-input".into(),
            "call_records must hold 1 to 500 records, got 501".into()
        )
    );
    let (status, _, message) = error_body(h.create(&token, &[]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (400, "call_records must hold 1 to 500 records, got 0")
    );

    let garbage = h
        .http
        .post(h.url(&h.records_path()))
        .bearer_auth(&token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(garbage).await.1, "invalid-input");

    let full: Vec<Value> = (0..500).map(record).collect();
    assert_eq!(h.create(&token, &full).await.status(), 200);
    assert_eq!(
        h.sim.counters().records_stored,
        500,
        "only the valid full batch is stored"
    );
}

#[tokio::test(start_paused = true)]
async fn wrong_account_unknown_batch_and_unknown_path() {
    let h = Harness::start(SimConfig::demo()).await;
    let token = h.token().await;
    let other = "11111111-2222-4333-8444-555555555555";
    let forbidden = (
        403,
        "forbidden-error".to_owned(),
        "not authorized. please contact your admin.".to_owned(),
    );
    let response = h
        .http
        .post(h.url(&format!("/v2/clients/{other}/dynamic_call_records")))
        .bearer_auth(&token)
        .json(&json!({"call_records": [record(1)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(response).await, forbidden);
    assert_eq!(
        error_body(h.get(&token, &format!("/clients/{other}/labels")).await).await,
        forbidden
    );
    let path = format!("/v2/clients/{other}/dynamic_call_records?batchId=x");
    assert_eq!(error_body(h.get(&token, &path).await).await, forbidden);

    let path = format!("{}?batchId=no-such-batch", h.records_path());
    assert_eq!(error_body(h.get(&token, &path).await).await.0, 404);
    assert_eq!(
        error_body(h.get(&token, &h.records_path()).await).await.0,
        400
    );
    let (status, slug, _) = error_body(h.get(&token, "/v1/nothing/here").await).await;
    assert_eq!((status, slug.as_str()), (404, "not-found"));
    let labels_bad_page = h
        .get(&token, &format!("/clients/{}/labels?page=0", h.account()))
        .await;
    assert_eq!(error_body(labels_bad_page).await.0, 400);
    let wrong_method = h
        .http
        .delete(h.url(&h.records_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(wrong_method).await.1, "method-not-allowed");
    let unauthenticated = h
        .http
        .get(h.url(&format!("/clients/{}/labels", h.account())))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test(start_paused = true)]
async fn statuses_are_deterministic_and_match_expected_status() {
    let h = Harness::start(SimConfig::demo()).await;
    let token = h.token().await;
    let batch: Vec<Value> = (0..300).map(record).collect();
    let batch_id = h
        .create(&token, &batch)
        .await
        .json::<Value>()
        .await
        .unwrap()["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{}?batchId={batch_id}", h.records_path());
    let status: tc_core::wire::BatchStatusResponse =
        h.get(&token, &path).await.json().await.unwrap();
    assert_eq!(status.data.len(), 300);
    let mut failures = 0;
    for (row, sent) in status.data.iter().zip(&batch) {
        assert_eq!(
            row.receiver_number,
            sent["receiver_number"].as_str().unwrap()
        );
        let (expected, message) = expected_outcome(&row.receiver_number);
        assert_eq!(row.status_info.status, expected);
        assert_eq!(row.status_info.message.as_deref(), message);
        failures += usize::from(expected != "success");
    }
    assert!((15..=90).contains(&failures), "{failures} failures of 300");
    // The same receiver written without `+` gets the same outcome.
    assert_eq!(
        expected_status("91 98765 00001"),
        expected_status("+919876500001")
    );
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_stored_and_counted() {
    let h = Harness::start(SimConfig::demo()).await;
    let token = h.token().await;
    let first = record(7);
    let mut same_number_other_form = first.clone();
    same_number_other_form["receiver_number"] = json!("919876500007");
    assert_eq!(
        h.create(&token, &[first.clone(), record(8)]).await.status(),
        200
    );
    assert_eq!(
        h.create(&token, &[first, same_number_other_form])
            .await
            .status(),
        200
    );
    let counters: tc_sim::Counters = h
        .http
        .get(h.url("/__sim/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            counters.records_stored,
            counters.duplicate_records,
            counters.batches_stored
        ),
        (4, 2, 2)
    );
    assert_eq!(
        counters,
        h.sim.counters(),
        "admin endpoint and library agree"
    );
    let records: Vec<tc_sim::StoredRecord> = h
        .http
        .get(h.url("/__sim/records"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(
        records[3].record.receiver_number, "919876500007",
        "stored as sent"
    );
    assert_eq!(records[0].batch_id, records[1].batch_id);
    assert_ne!(records[1].batch_id, records[2].batch_id);
}
