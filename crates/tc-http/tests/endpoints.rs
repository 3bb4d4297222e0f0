//! Status, labels, refusals and configuration over real HTTP.

mod common;

use common::*;
use std::time::Duration;
use tc_http::{AttemptFailure, Client, ClientBuilder, Error, RetryConfig, Setting, StatusApi};
use tc_sim::Simulator;

#[tokio::test(start_paused = true)]
async fn labels_are_read_across_pages() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    for page_size in [2, 5, 1000] {
        let client = client(client_config(&sim).labels_page_size(page_size));
        let labels = client.labels().await.unwrap();
        assert_eq!(labels, tc_sim::demo_labels(), "page size {page_size}");
    }
    // 2 per page: pages of 2, 2, 1; 5 per page: 5 then an empty page; 1000: one page.
    let tokens = sim.counters().tokens_created;
    assert_eq!(tokens, 3, "one token per client");
    assert_eq!(status_count(&sim, 200), 3 + 2 + 1 + tokens);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn batch_status_decodes_every_record_under_v2_and_v3() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let batch = &batches(40, 1, 40)[0];
    for api in [StatusApi::V2, StatusApi::V3] {
        let client = client(client_config(&sim).status_api(api));
        let created = client.create_call_records(batch).await.unwrap();
        let status = client.batch_status(&created.batch_id).await.unwrap();
        assert_eq!(status.batch_id, created.batch_id.as_str());
        assert_eq!(status.client_account_id, sim.config().client_account_id);
        assert_eq!(status.data.len(), 40);
        let mut failures = 0;
        for (record, sent) in status.data.iter().zip(batch.records()) {
            assert_eq!(record.receiver_number, sent.receiver_number().as_str());
            let expected = tc_sim::expected_status(&record.receiver_number);
            assert_eq!(record.status_info.status, expected);
            let delivery = record.status_info.delivery();
            assert!(delivery.is_settled(), "the simulator settles at once");
            if delivery.is_delivered() {
                assert_eq!(expected, "success");
            } else {
                failures += 1;
                let message = record.status_info.message.as_deref();
                assert!(message.is_some_and(|m| !m.is_empty()));
            }
        }
        assert!(
            failures > 0 && failures < 40,
            "a mix of outcomes: {failures} failures"
        );
    }
    let client = client(client_config(&sim));
    let missing = client
        .batch_status(&"no-such-batch".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, Error::Final { status: 404, .. }),
        "{missing}"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_batch_is_final_with_the_api_slug_and_message() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let client = client(client_config(&sim));
    // Valid when checked a year ago, expired now: the server refuses it.
    let stale = &batches_at(epoch_now().plus(-365 * 86_400_000), 41, 1, 2)[0];
    let error = client.create_call_records(stale).await.unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.slug(), Some("invalid-input"));
    assert!(!error.outcome_unknown() && !error.is_retryable_later());
    assert_eq!(error.attempts(), 1);
    assert!(error.to_string().contains("do not retry"), "{error}");
    assert_eq!(
        sim.counters().create_requests,
        1,
        "a final answer is not retried"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn wrong_credentials_fail_once_with_advice() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let client = client_config(&sim)
        .api_key("wrong-key".to_owned())
        .build()
        .unwrap();
    let error = client.labels().await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Unauthorized {
                endpoint: "token",
                status: 401,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("business console"), "{error}");
    // Said once: the simulator's message already names the console, as the API's may.
    assert_eq!(
        error.to_string().matches("business console").count(),
        1,
        "{error}"
    );
    assert_eq!(error.attempts(), 1);
    assert_eq!(sim.counters().tokens_created, 0);
    assert_eq!(
        status_count(&sim, 401),
        1,
        "no retry storm on bad credentials"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_server_that_is_not_there_is_retried_then_reported_as_not_sent() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let retry = RetryConfig::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20));
    let client = credentials()
        .base_url(format!("http://127.0.0.1:{port}"))
        .retry(retry)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let error = client
        .create_call_records(&batches(42, 1, 1)[0])
        .await
        .unwrap_err();
    match &error {
        Error::GaveUp {
            attempts: 3,
            last: AttemptFailure::Connect(_),
            possibly_stored: false,
            ..
        } => {}
        other => panic!("unexpected: {other}"),
    }
    assert!(!error.outcome_unknown());
    assert_eq!(error.attempts(), 3);
    assert!(error.to_string().contains("Nothing was stored"), "{error}");
    // The refused connection is the source, as reqwest reported it, its own causes included.
    let source = std::error::Error::source(&error).expect("the connection error");
    let reqwest_error = source
        .downcast_ref::<reqwest::Error>()
        .expect("reqwest's error");
    assert!(reqwest_error.is_connect(), "{reqwest_error:?}");
    assert!(
        !error.to_string().contains(&reqwest_error.to_string()),
        "the message does not repeat its source: {error}"
    );
    let stats = client.stats();
    assert_eq!(
        (
            stats.token_requests,
            stats.tokens_created,
            stats.transport_failures
        ),
        (3, 0, 3)
    );
}

/// The three credentials, for a client of no particular server.
fn credentials() -> ClientBuilder {
    Client::builder()
        .client_account_id("acct")
        .key_id("key")
        .api_key("secret".to_owned())
}

#[test]
fn plain_http_is_only_for_this_machine() {
    let make = |url: &str| credentials().base_url(url).build();
    for ok in [
        "https://api.example.com",
        "http://127.0.0.1:8080",
        "http://127.8.9.10",
        "http://[::1]:80/",
        "http://LOCALHOST:1",
    ] {
        assert!(make(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://api.example.com",
        "http://10.0.0.1",
        "http://[::2]",
        "ftp://127.0.0.1",
        "not a url",
        "https://h/?q=1",
        "",
    ] {
        let error = make(bad).unwrap_err();
        let named = error.config_error().map(|e| e.settings().to_vec());
        assert_eq!(named, Some(vec![Setting::BaseUrl]), "{bad}: {error}");
    }
    let error = make("http://api.example.com").unwrap_err().to_string();
    assert!(
        error.contains("unencrypted") && error.contains("https://"),
        "{error}"
    );
    // A base URL that is not one keeps the parser's error as its source.
    let error = make("not a url").unwrap_err();
    let source = std::error::Error::source(&error).expect("the parser's error");
    assert!(source.to_string().contains("relative URL"), "{source}");
}

#[test]
fn production_is_the_default_and_every_credential_is_required() {
    let client = credentials().build().unwrap();
    assert_eq!(client.config().base_url(), tc_http::DEFAULT_BASE_URL);
    assert_eq!(client.config().client_account_id(), "acct");
    let error = Client::builder().key_id("key").build().unwrap_err();
    let missing = error.config_error().unwrap().settings().to_vec();
    assert_eq!(missing, [Setting::ClientAccountId, Setting::ApiKey]);
    let message = error.to_string();
    assert!(
        message.contains("client_account_id ($TRUECALLER_CLIENT_ACCOUNT_ID)")
            && message.contains("api_key ($TRUECALLER_API_KEY)")
            && !message.contains("key_id"),
        "{message}"
    );
}

#[test]
fn impossible_settings_are_refused_up_front_naming_the_setting() {
    let base = credentials;
    for (builder, setting) in [
        (base().tokens(0), Setting::Tokens),
        (base().tokens(11), Setting::Tokens),
        (base().client_account_id(" "), Setting::ClientAccountId),
        (base().key_id("a\nb"), Setting::KeyId),
        (base().api_key(String::new()), Setting::ApiKey),
        (
            base().refresh_margin(Duration::from_secs(3600)),
            Setting::RefreshMargin,
        ),
        (
            base().request_timeout(Duration::ZERO),
            Setting::RequestTimeout,
        ),
        (base().labels_page_size(0), Setting::LabelsPageSize),
        (
            base().retry(RetryConfig::default().with_max_attempts(0)),
            Setting::Retry,
        ),
    ] {
        let error = builder.build().unwrap_err();
        let named = error.config_error().map(|e| e.settings().to_vec());
        assert_eq!(named, Some(vec![setting]), "{error}");
        assert_eq!(error.attempts(), 0);
    }
    let error = base().tokens(11).build().unwrap_err().to_string();
    assert!(error.contains("1 to 10"), "{error}");
    assert!(base().tokens(10).build().is_ok());
}
