//! The relay against the simulator, in paused time: what producers are told, and what the
//! simulator's store holds in the end, checked against each other.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tc_core::EpochMillis;
use tc_http::{Clock, Guarantee, SystemClock, TokioClock};
use tc_relay::{KeyDigest, ProducerKeys, RecordId, RecordState, Relay, RelayConfig};
use tc_sim::{SimConfig, Simulator};
use tokio::sync::oneshot;

/// Indian mobiles that tc-core accepts, distinct, deterministic for a seed.
fn receivers(n: usize, seed: u64) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    let mut x = seed.wrapping_mul(6364136223846793005) ^ 1442695040888963407;
    while out.len() < n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let candidate = format!("+919{:09}", (x >> 20) % 1_000_000_000);
        if tc_core::E164::normalize(&candidate, None).is_ok() && !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

fn record(receiver: &str, now: EpochMillis, ends_in_ms: i64) -> Value {
    json!({
        "caller_number": "+91 98765 43210",
        "receiver_number": receiver,
        "dynamic_label_name": "Centro Bank",
        "dynamic_call_reason": "Calling about your loan",
        "starts_at": now.as_i64(),
        "ends_at": now.plus(ends_in_ms).as_i64(),
    })
}

struct Running {
    sim: Simulator,
    base: String,
    clock: Arc<TokioClock>,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// What a test changes of the relay [`Running::start_with`] runs, beyond its configuration.
#[derive(Default)]
struct Launch {
    /// A store the test made (else one in a directory of the relay's own).
    store: Option<std::path::PathBuf>,
    /// An API key other than the simulator's.
    api_key: Option<String>,
    /// A coordinator the client shares the account through.
    coordinator: Option<Arc<dyn tc_http::Coordinator>>,
}

impl Running {
    async fn start(
        sim_config: SimConfig,
        relay: impl FnOnce(RelayConfig) -> RelayConfig,
    ) -> Running {
        Running::start_with(sim_config, Launch::default(), relay).await
    }

    async fn start_with(
        sim_config: SimConfig,
        launch: Launch,
        relay: impl FnOnce(RelayConfig) -> RelayConfig,
    ) -> Running {
        let sim = Simulator::start(sim_config.clone()).await.unwrap();
        let account = sim.config();
        let client = tc_http::Client::builder()
            .base_url(sim.base_url())
            .client_account_id(account.client_account_id.as_str())
            .key_id(account.key_id.as_str());
        let client = match launch.api_key {
            Some(wrong) => client.api_key(wrong),
            None => client.api_key(account.api_key.clone()),
        };
        let client = match launch.coordinator {
            Some(coordinator) => client.coordinator(coordinator),
            None => client,
        };
        let client = client
            .tokens(2)
            .token_ttl(sim_config.token_ttl)
            .refresh_margin(sim_config.token_ttl / 4)
            .rate_limit(sim_config.rate_per_minute, sim_config.rate_window)
            .rate_guard(Duration::from_millis(10))
            .seed(11)
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TokioClock::starting_at(SystemClock.now()).unwrap());
        let store = launch.store.unwrap_or_else(|| dir.path().join("relay.db"));
        let config = relay(RelayConfig::new(store));
        let relay = Relay::start(config, client, clock.clone()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            relay
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Running {
            sim,
            base,
            clock,
            stop: Some(stop),
            served,
            _dir: dir,
        }
    }

    /// Posts `body` to the relay's records endpoint, as a producer does.
    async fn post(&self, http: &reqwest::Client, body: &Value) -> reqwest::Response {
        http.post(format!("{}/v1/call-records", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Sends the relay its stop signal, as SIGTERM does, without waiting for it to stop.
    fn signal_stop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }

    async fn stop(mut self) -> Simulator {
        self.signal_stop();
        self.served.await.unwrap();
        self.sim
    }
}

async fn status(http: &reqwest::Client, base: &str, id: &str) -> Value {
    http.get(format!("{base}/v1/call-records/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (in virtual time) until every id has left the queue, and returns their statuses.
async fn settled(http: &reqwest::Client, base: &str, ids: &[String]) -> HashMap<String, Value> {
    let mut statuses = HashMap::new();
    for _ in 0..600 {
        statuses.clear();
        for id in ids {
            statuses.insert(id.clone(), status(http, base, id).await);
        }
        let waiting = statuses
            .values()
            .filter(|s| matches!(s["state"].as_str(), Some("queued" | "in_flight")))
            .count();
        if waiting == 0 {
            return statuses;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("records still queued after 600 virtual seconds");
}

#[tokio::test(start_paused = true)]
async fn under_faults_every_acknowledged_record_is_stored_and_none_twice_unflagged() {
    let sim_config = SimConfig {
        rate_per_minute: 20,
        rate_window: Duration::from_secs(2),
        token_ttl: Duration::from_secs(2),
        token_creations_per_window: 1000,
        fail_rate: 0.15,
        drop_rate: 0.15,
        seed: 7,
        ..SimConfig::demo()
    };
    let running = Running::start(sim_config, |c| c.with_linger(Duration::from_millis(200))).await;
    let now = running.clock.now();
    let numbers = receivers(600, 1);
    let http = reqwest::Client::new();
    // 30 producers, 20 records each, in posts of 1 to 4; every other post is sent twice with
    // its Idempotency-Key, as a producer retrying after a lost answer would.
    let mut producers = Vec::new();
    for (producer, chunk) in numbers.chunks(20).enumerate() {
        let (http, base) = (http.clone(), running.base.clone());
        let chunk = chunk.to_vec();
        producers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            tokio::time::sleep(Duration::from_millis(37 * producer as u64)).await;
            let mut at = 0;
            let mut post = 0;
            while at < chunk.len() {
                let size = (1 + (producer + post) % 4).min(chunk.len() - at);
                let records: Vec<Value> = chunk[at..at + size]
                    .iter()
                    .map(|r| record(r, now, 3_600_000))
                    .collect();
                let key = format!("p{producer}-{post}");
                let mut answers = Vec::new();
                for _ in 0..(1 + post % 2) {
                    let answer: Value = http
                        .post(format!("{base}/v1/call-records"))
                        .header("Idempotency-Key", &key)
                        .json(&json!({ "call_records": records }))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    answers.push(answer);
                }
                assert!(answers
                    .iter()
                    .all(|a| a["accepted"] == answers[0]["accepted"]));
                for (accepted, receiver) in answers[0]["accepted"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(&chunk[at..at + size])
                {
                    acked.push((
                        accepted["id"].as_str().unwrap().to_owned(),
                        receiver.clone(),
                    ));
                }
                at += size;
                post += 1;
                // Posts spread over several token lifetimes, so tokens expire under load.
                tokio::time::sleep(Duration::from_millis(1000)).await;
            }
            acked
        }));
    }
    let mut acked: Vec<(String, String)> = Vec::new();
    for producer in producers {
        acked.extend(producer.await.unwrap());
    }
    assert_eq!(acked.len(), 600, "every valid record is acknowledged once");
    let ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    let statuses = settled(&http, &running.base, &ids).await;
    let sim = running.stop().await;

    let mut stored: HashMap<String, usize> = HashMap::new();
    for record in sim.stored_records() {
        *stored
            .entry(record.record.receiver_number.clone())
            .or_default() += 1;
    }
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for (id, receiver) in &acked {
        let status = &statuses[id];
        let state = status["state"].as_str().unwrap();
        *by_state.entry(state.to_owned()).or_default() += 1;
        let copies = stored.get(receiver).copied().unwrap_or(0);
        assert_eq!(state, "accepted", "{id}: {status}");
        assert!(
            copies >= 1,
            "{id} was acknowledged and sent but is not stored"
        );
        if copies > 1 {
            assert_eq!(
                status["possibly_duplicated"], true,
                "{id} is stored {copies} times but not flagged: {status}"
            );
        }
    }
    assert_eq!(
        stored.len(),
        600,
        "nothing but the acknowledged records is stored"
    );
    let counters = sim.counters();
    assert!(
        counters.responses_dropped > 0,
        "the faults were exercised: {counters:?}"
    );
    assert!(
        counters.tokens_created > 2,
        "tokens expired and were replaced: {counters:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_post_is_answered_with_ids_and_the_validators_diagnostics() {
    let running = Running::start(SimConfig::demo(), |c| c).await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    let numbers = receivers(3, 2);
    let mut bad = record(&numbers[1], now, 3_600_000);
    bad["receiver_number"] = json!("+91 98765 4321O");
    let body = json!({"call_records": [record(&numbers[0], now, 3_600_000), bad, {"external_id": "crm-9", "caller_number": "+919876543210", "receiver_number": numbers[2], "dynamic_label_name": "Centro Bank", "starts_at": now.as_i64(), "ends_at": now.as_i64() + 60_000}]});
    let answer = running.post(&http, &body).await;
    assert_eq!(answer.status(), 202);
    let answer: Value = answer.json().await.unwrap();
    let accepted = answer["accepted"].as_array().unwrap();
    assert_eq!(accepted.len(), 2, "{answer}");
    assert_eq!(
        (
            accepted[0]["record"].as_u64(),
            accepted[1]["record"].as_u64()
        ),
        (Some(1), Some(3))
    );
    let problems = answer["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{answer}");
    assert_eq!(problems[0]["record"], 2);
    assert_eq!(problems[0]["field"], "receiver_number");
    assert_eq!(problems[0]["code"], "phone_has_letters");

    // The same external id again: the earlier record's id, nothing queued twice.
    let again = json!({"external_id": "crm-9", "caller_number": "+919876543210", "receiver_number": numbers[2], "dynamic_label_name": "Centro Bank", "starts_at": now.as_i64(), "ends_at": now.as_i64() + 60_000});
    let answer: Value = running.post(&http, &again).await.json().await.unwrap();
    assert_eq!(answer["accepted"][0]["id"], accepted[1]["id"]);
    assert_eq!(answer["accepted"][0]["deduplicated"], true);

    // Only invalid records: 422, nothing queued.
    let invalid = running
        .post(&http, &json!({"caller_number": "+919876543210"}))
        .await;
    assert_eq!(invalid.status(), 422);
    let invalid: Value = invalid.json().await.unwrap();
    assert!(invalid["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["code"] == "missing_field"));
    // Not records at all: 400, with a reason.
    let unreadable = http
        .post(format!("{}/v1/call-records", running.base))
        .header("content-type", "application/json")
        .body("\"records\"")
        .send()
        .await
        .unwrap();
    assert_eq!(unreadable.status(), 400);
    let reason: Value = unreadable.json().await.unwrap();
    assert!(
        reason.to_string().contains("expected a JSON array"),
        "{reason}"
    );
    // A records array cut short is read as `validate` reads such a file: its broken records
    // are problems, the last one saying where the body ends.
    let cut = http
        .post(format!("{}/v1/call-records", running.base))
        .header("content-type", "application/json")
        .body("[1,")
        .send()
        .await
        .unwrap();
    assert_eq!(cut.status(), 422);
    let cut: Value = cut.json().await.unwrap();
    let problems = cut["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{cut}");
    assert!(
        problems[1]["message"]
            .as_str()
            .unwrap()
            .contains("cut short"),
        "{cut}"
    );

    let ids: Vec<String> = accepted
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let statuses = settled(&http, &running.base, &ids).await;
    for id in &ids {
        assert_eq!(statuses[id]["state"], "accepted", "{}", statuses[id]);
        assert!(statuses[id]["batch_id"].is_string());
    }
    // Both went in one batch: the linger gathered them.
    assert_eq!(statuses[&ids[0]]["batch_id"], statuses[&ids[1]]["batch_id"]);
    // The delivery poller fills in each record's delivery.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let delivered = status(&http, &running.base, &ids[0]).await;
    let expected = tc_sim::expected_status(numbers[0].as_str());
    assert_eq!(delivered["delivery"], expected, "{delivered}");
    let missing = http
        .get(format!("{}/v1/call-records/r999999", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let metrics = http
        .get(format!("{}/metrics", running.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tc_relay_requests_total{outcome=\"accepted\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tc_relay_ack_to_send_seconds"),
        "{metrics}"
    );
    let openapi: Value = http
        .get(format!("{}/openapi.json", running.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/v1/call-records"]["post"].is_object());
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_record_whose_window_closes_while_queued_is_rejected_not_sent() {
    // A linger longer than the record's window: it cannot leave in time.
    let running = Running::start(SimConfig::demo(), |c| {
        c.with_linger(Duration::from_secs(30))
    })
    .await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    let number = receivers(1, 3).remove(0);
    let answer: Value = running
        .post(&http, &record(&number, now, 10_000))
        .await
        .json()
        .await
        .unwrap();
    let id = answer["accepted"][0]["id"].as_str().unwrap().to_owned();
    let statuses = settled(&http, &running.base, std::slice::from_ref(&id)).await;
    assert_eq!(statuses[&id]["state"], "rejected");
    assert_eq!(statuses[&id]["code"], "window_expired");
    let sim = running.stop().await;
    assert_eq!(sim.counters().records_stored, 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_503_with_retry_after() {
    // The linger holds records back, so the queue fills.
    let running = Running::start(SimConfig::demo(), |c| {
        c.with_queue_limit(3).with_linger(Duration::from_secs(60))
    })
    .await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    let numbers = receivers(5, 4);
    let post = |records: &[String]| {
        let body = json!({"call_records": records.iter().map(|r| record(r, now, 3_600_000)).collect::<Vec<_>>()});
        http.post(format!("{}/v1/call-records", running.base))
            .json(&body)
            .send()
    };
    assert_eq!(post(&numbers[..3]).await.unwrap().status(), 202);
    let full = post(&numbers[3..]).await.unwrap();
    assert_eq!(full.status(), 503);
    assert_eq!(full.headers()["retry-after"], "1");
    let ready = http
        .get(format!("{}/readyz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn producer_keys_are_required_when_configured() {
    let keys = ProducerKeys::new([KeyDigest::of_key("dialer-key")]).unwrap();
    let running = Running::start(SimConfig::demo(), |c| c.with_producer_keys(keys)).await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    let body = record(&receivers(1, 5)[0], now, 3_600_000);
    let url = format!("{}/v1/call-records", running.base);
    let without = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(without.status(), 401);
    let wrong = http
        .post(&url)
        .bearer_auth("other")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = http
        .post(&url)
        .bearer_auth("dialer-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 202);
    running.stop().await;
}

/// A relay that stopped with a batch in flight: at least once, its records are sent again,
/// flagged; at most once, they are marked unknown and never sent.
#[tokio::test(start_paused = true)]
async fn a_restart_resumes_batches_in_flight_by_the_guarantee() {
    for guarantee in [Guarantee::AtLeastOnce, Guarantee::AtMostOnce] {
        // Every create request is answered only after 60 s: the relay stops before that.
        let sim = Simulator::start(SimConfig {
            latency: Duration::from_secs(60),
            ..SimConfig::demo()
        })
        .await
        .unwrap();
        let account = sim.config();
        let client = || {
            tc_http::Client::builder()
                .base_url(sim.base_url())
                .client_account_id(account.client_account_id.as_str())
                .key_id(account.key_id.as_str())
                .api_key(account.api_key.clone())
                .guarantee(guarantee)
                .build()
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("relay.db");
        let config = || {
            RelayConfig::new(&store)
                .with_linger(Duration::from_millis(10))
                .with_guarantee(guarantee)
        };
        let clock = Arc::new(TokioClock::starting_at(SystemClock.now()).unwrap());
        let relay = Relay::start(config(), client(), clock.clone())
            .await
            .unwrap();
        let router = relay.router();
        let body = record(&receivers(1, 6)[0], clock.now(), 3_600_000).to_string();
        let answer = tower_post(router, body).await;
        let id: RecordId = answer["accepted"][0]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        // The batch has left: it is in flight.
        for _ in 0..100 {
            if relay.status(id).await.unwrap().unwrap().state == RecordState::InFlight {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            relay.status(id).await.unwrap().unwrap().state,
            RecordState::InFlight
        );
        // A crash: the tasks are gone without recording the answer.
        drop(relay);
        let relay = loop {
            match Relay::start(config(), client(), clock.clone()).await {
                Ok(relay) => break relay,
                // The dropped relay's blocking work may still hold the store for a moment.
                Err(tc_relay::Error::StoreInUse { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(other) => panic!("{other}"),
            }
        };
        let status = relay.status(id).await.unwrap().unwrap();
        match guarantee {
            Guarantee::AtLeastOnce => {
                assert_eq!(relay.recovered().requeued, 1);
                assert!(status.possibly_duplicated);
                assert!(matches!(
                    status.state,
                    RecordState::Queued | RecordState::InFlight
                ));
            }
            _ => {
                assert_eq!(relay.recovered().unknown, 1);
                assert_eq!(status.state, RecordState::Unknown);
            }
        }
        relay.shutdown().await;
        sim.shutdown().await;
    }
}

/// Posts `body` to the router without a socket.
async fn tower_post(router: axum::Router, body: String) -> Value {
    use tower::ServiceExt;
    let request = axum::http::Request::post("/v1/call-records")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 202);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Status requests the simulator answered: every request but the token and create requests.
fn status_requests(sim: &Simulator) -> u64 {
    let counters = sim.counters();
    let answered: u64 = counters.requests_by_status.values().sum();
    answered - counters.create_requests - counters.tokens_created
}

#[tokio::test(start_paused = true)]
async fn delivery_polls_give_their_places_to_batches_while_the_queue_is_saturated() {
    // 2 tokens at 5 requests a second carry 10 batches a second: 48,000 records keep a full
    // batch waiting for about 10 s. Polls every 200 ms would take a place in every few.
    let limit = SimConfig {
        rate_per_minute: 5,
        rate_window: Duration::from_secs(1),
        ..SimConfig::demo()
    };
    let running = Running::start(limit, |c| c.with_poll_every(Duration::from_millis(200))).await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    for post in 0..96 {
        let body = json!({"call_records": (0..500)
            .map(|i| record(&format!("+9198{:08}", post * 500 + i), now, 3_600_000))
            .collect::<Vec<_>>()});
        assert_eq!(running.post(&http, &body).await.status(), 202);
    }
    let mut waited = 0;
    while running.sim.counters().records_stored < 48_000 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
        assert!(
            waited < 600,
            "the batches did not all leave in 60 virtual seconds"
        );
    }
    let saturated_polls = status_requests(&running.sim);
    let elapsed = waited / 10 + 1;
    // One poll when the first batches are out, then one per 10 windows (10 s).
    assert!(
        saturated_polls <= 1 + elapsed / 10,
        "{saturated_polls} polls in {elapsed} saturated seconds"
    );
    // The queue drained: polling goes back to its own pace and settles the deliveries.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        status_requests(&running.sim) >= saturated_polls + 5,
        "polling did not resume once the queue drained"
    );
    running.stop().await;
}

/// An error answer's status, and its body as JSON (which it must be).
async fn error_answer(answer: reqwest::Response) -> (u16, Value) {
    let status = answer.status().as_u16();
    let kind = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let text = answer.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status} answered {kind:?}, not JSON: {text:?}"));
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()) && body["code"].is_string(),
        "{status}: {body}"
    );
    (status, body)
}

/// The schemas `schema` stands for: itself, the component a `$ref` names, each of a `oneOf`.
fn schemas_of(openapi: &Value, schema: &Value) -> Vec<Value> {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/");
        return schemas_of(openapi, &openapi["components"]["schemas"][name]);
    }
    match schema["oneOf"].as_array() {
        Some(each) => each.iter().flat_map(|s| schemas_of(openapi, s)).collect(),
        None => vec![schema.clone()],
    }
}

/// Asserts that the relay's OpenAPI document lists `status` for the operation, as JSON, and
/// that `body` holds every field one of the schemas documented for it requires.
fn assert_documented(openapi: &Value, operation: (&str, &str), status: u16, body: &Value) {
    let (method, path) = operation;
    let response = &openapi["paths"][path][method]["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} documents no JSON answer {status}: {response}"
    );
    let fits = |schema: &Value| {
        schema["required"].as_array().is_some_and(|required| {
            required
                .iter()
                .all(|f| body.get(f.as_str().unwrap()).is_some())
        })
    };
    assert!(
        schemas_of(openapi, schema).iter().any(fits),
        "{method} {path} answered {status} with {body}, which no schema documented for it fits: {schema}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_error_answer_is_json_with_an_error_and_a_code() {
    let keys = ProducerKeys::new([KeyDigest::of_key("dialer-key")]).unwrap();
    let running = Running::start(SimConfig::demo(), |c| c.with_producer_keys(keys)).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/call-records", running.base);
    let record = record(&receivers(1, 7)[0], running.clock.now(), 3_600_000);
    let post = || http.post(&url).bearer_auth("dialer-key");
    // Each answer of a documented operation, to hold against the OpenAPI document at the end.
    let mut answered: Vec<((&str, &str), u16, Value)> = Vec::new();

    let too_large = vec![b' '; tc_relay::MAX_BODY_BYTES + 1];
    let answer = post()
        .header("content-type", "application/json")
        .body(too_large)
        .send()
        .await
        .unwrap();
    let (status, body) = error_answer(answer).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert!(body["error"].as_str().unwrap().contains("8 MiB"), "{body}");
    answered.push((("post", "/v1/call-records"), status, body));

    // A tab and a byte beyond ASCII reach the relay; neither is visible ASCII.
    for key in [&b"retry\t1"[..], &b"caf\xe9"[..]] {
        let key = reqwest::header::HeaderValue::from_bytes(key).unwrap();
        let answer = post()
            .header("idempotency-key", key)
            .json(&record)
            .send()
            .await
            .unwrap();
        let (status, body) = error_answer(answer).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_idempotency_key"))
        );
        answered.push((("post", "/v1/call-records"), status, body));
    }

    // A control character is refused by the HTTP parser before any handler sees the request:
    // the one answer that is not the relay's (docs/relay.md says so).
    let raw = "POST /v1/call-records HTTP/1.1\r\nhost: relay\r\nidempotency-key: a\x01b\r\n\
               content-length: 2\r\n\r\n{}";
    let parsed = raw_exchange(&running.base, raw.as_bytes()).await;
    assert!(parsed.starts_with("HTTP/1.1 400"), "{parsed}");

    let answer = http.post(&url).json(&record).send().await.unwrap();
    let (status, body) = error_answer(answer).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    answered.push((("post", "/v1/call-records"), status, body));
    let unreadable = post().json(&json!("records")).send().await.unwrap();
    let (status, body) = error_answer(unreadable).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unreadable_body"))
    );
    answered.push((("post", "/v1/call-records"), status, body));
    let undeclared = post().body(record.to_string()).send().await.unwrap();
    let (status, body) = error_answer(undeclared).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    answered.push((("post", "/v1/call-records"), status, body));

    let read = |path: &str| {
        http.get(format!("{}{path}", running.base))
            .bearer_auth("dialer-key")
            .send()
    };
    for (path, expected) in [
        ("/v1/call-records/r999999", (404, "record_not_found")),
        ("/v1/call-records/nine", (400, "invalid_record_id")),
        ("/v1/call-records/%FF", (400, "invalid_record_id")),
        ("/v2/call-records", (404, "not_found")),
    ] {
        let (status, body) = error_answer(read(path).await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (expected.0, Some(expected.1)),
            "{path}"
        );
        if path.starts_with("/v1/call-records/") {
            answered.push((("get", "/v1/call-records/{id}"), status, body));
        }
    }
    let delete = http.delete(&url).send().await.unwrap();
    let (status, body) = error_answer(delete).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    // The OpenAPI document lists each of these answers for its operation, with its body.
    let openapi: Value = read("/openapi.json").await.unwrap().json().await.unwrap();
    for (operation, status, body) in &answered {
        assert_documented(&openapi, *operation, *status, body);
    }
    running.stop().await;
}

/// Writes `request` to the relay as raw bytes and reads what it answers until it closes.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// With no producer keys (loopback), a web page open on the relay's host could post records
/// cross-origin as a "simple" request (`text/plain`, no preflight). Declaring JSON needs a
/// preflight, which the relay never grants: it sends no CORS headers.
#[tokio::test(start_paused = true)]
async fn a_post_must_be_declared_json_so_a_web_page_cannot_post_without_a_preflight() {
    let running = Running::start(SimConfig::demo(), |c| c).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/call-records", running.base);
    let numbers = receivers(6, 8);
    let now = running.clock.now();
    let body = |n: usize| record(&numbers[n], now, 3_600_000).to_string();
    for (n, declared) in [
        Some("text/plain"),
        None,
        Some("application/json; charset=latin1"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut post = http
            .post(&url)
            .header("origin", "http://page.example")
            .body(body(n));
        if let Some(declared) = declared {
            post = post.header("content-type", declared);
        }
        let answer = post.send().await.unwrap();
        assert!(
            answer
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{declared:?}"
        );
        let (status, refused) = error_answer(answer).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{declared:?}"
        );
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{refused}"
        );
    }
    for (n, declared) in [
        "application/json",
        "Application/JSON; charset=UTF-8",
        "application/vnd.dialer+json",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = http
            .post(&url)
            .header("content-type", declared)
            .body(body(3 + n))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202, "{declared}");
    }
    // The preflight a browser sends first is not granted.
    let preflight = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://page.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(!preflight.status().is_success());
    assert!(preflight
        .headers()
        .keys()
        .all(|name| !name.as_str().starts_with("access-control-")));
    let metrics = http
        .get(format!("{}/metrics", running.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tc_relay_records_total{status=\"acknowledged\"} 3"),
        "only the posts declared JSON were queued: {metrics}"
    );
    running.stop().await;
}

/// A load balancer learns that a stopping relay takes no more posts from `/readyz` and from the
/// posts' own `503`s; a refused connection would tell it nothing until the next health check.
#[tokio::test(start_paused = true)]
async fn after_the_stop_signal_posts_and_readyz_answer_503_before_the_listener_closes() {
    let mut running = Running::start(SimConfig::demo(), |c| c).await;
    let http = reqwest::Client::new();
    let body = record(&receivers(1, 9)[0], running.clock.now(), 3_600_000);
    running.signal_stop();
    // The relay's tasks see the signal; no virtual time needs to pass for that.
    tokio::task::yield_now().await;

    let post = http
        .post(format!("{}/v1/call-records", running.base))
        .json(&body)
        .send()
        .await
        .expect("a stopping relay still answers posts");
    assert_eq!(post.headers()["retry-after"], "1");
    let (status, refused) = error_answer(post).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (503, Some("shutting_down"))
    );
    let ready = http
        .get(format!("{}/readyz", running.base))
        .send()
        .await
        .expect("a stopping relay still answers /readyz");
    let (status, refused) = error_answer(ready).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (503, Some("shutting_down"))
    );

    let base = running.base.clone();
    running.stop().await;
    let closed = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .send()
        .await;
    assert!(
        closed.is_err(),
        "the listener closes once the relay stopped"
    );
}

/// A store laid out by a relay, in which every record for `receiver` fails to be written, as a
/// full disk fails a commit: the relay's group commit fails whole, and succeeds again once
/// the post holds other records.
async fn store_failing_for(dir: &std::path::Path, receiver: &str) -> std::path::PathBuf {
    let store = dir.join("relay.db");
    let laid_out = Running::start_with(
        SimConfig::demo(),
        Launch {
            store: Some(store.clone()),
            ..Launch::default()
        },
        |c| c,
    )
    .await;
    laid_out.stop().await;
    let trigger = format!(
        "CREATE TRIGGER disk_full BEFORE INSERT ON records WHEN NEW.receiver = '{receiver}' \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
    );
    for _ in 0..100 {
        // The stopped relay's blocking work may hold the file's lock for a moment.
        let made = rusqlite::Connection::open(&store).and_then(|db| db.execute_batch(&trigger));
        if made.is_ok() {
            return store;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the trigger could not be added to {}", store.display());
}

async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    metrics.text().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_relay_whose_store_fails_is_not_ready_until_the_store_takes_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = receivers(2, 10);
    let store = store_failing_for(dir.path(), &numbers[0]).await;
    let launch = Launch {
        store: Some(store),
        ..Launch::default()
    };
    let running = Running::start_with(SimConfig::demo(), launch, |c| c).await;
    let http = reqwest::Client::new();
    let now = running.clock.now();
    let ready = || http.get(format!("{}/readyz", running.base)).send();
    assert_eq!(ready().await.unwrap().status(), 200);

    let failed = running
        .post(&http, &record(&numbers[0], now, 3_600_000))
        .await;
    let (status, refused) = error_answer(failed).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (503, Some("store_unavailable"))
    );
    let (status, unready) = error_answer(ready().await.unwrap()).await;
    assert_eq!(
        (status, unready["code"].as_str()),
        (503, Some("store_failing"))
    );
    let metrics = metrics_text(&http, &running.base).await;
    assert!(
        metrics.contains("tc_relay_last_error{reason=\"store\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tc_relay_paused 0"), "{metrics}");

    // A relay not ready gets no posts; its own probe of the store (a write, once per third
    // of a lease) finds that the store takes writes, and makes it ready again.
    tokio::time::sleep(tc_relay::DEFAULT_LEASE).await;
    assert_eq!(ready().await.unwrap().status(), 200);
    let failed = running
        .post(&http, &record(&numbers[0], now, 3_600_000))
        .await;
    assert_eq!(failed.status(), 503);

    // The next commit that succeeds makes it ready again; the metric keeps what went wrong.
    let stored = running
        .post(&http, &record(&numbers[1], now, 3_600_000))
        .await;
    assert_eq!(stored.status(), 202);
    assert_eq!(ready().await.unwrap().status(), 200);
    let metrics = metrics_text(&http, &running.base).await;
    assert!(
        metrics.contains("tc_relay_last_error{reason=\"store\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tc_relay_errors_total{reason=\"store\"} 2"),
        "{metrics}"
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_relay_whose_sending_is_paused_is_not_ready_and_says_why() {
    let launch = Launch {
        api_key: Some("not-the-accounts-key".to_owned()),
        ..Launch::default()
    };
    let running = Running::start_with(SimConfig::demo(), launch, |c| c).await;
    let http = reqwest::Client::new();
    let number = receivers(1, 11).remove(0);
    let posted = running
        .post(&http, &record(&number, running.clock.now(), 3_600_000))
        .await;
    assert_eq!(posted.status(), 202, "posts are still stored");
    // The linger passes, the batch leaves, the API refuses the key: sending halts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ready = http
        .get(format!("{}/readyz", running.base))
        .send()
        .await
        .unwrap();
    let (status, unready) = error_answer(ready).await;
    assert_eq!(
        (status, unready["code"].as_str()),
        (503, Some("sending_paused"))
    );
    assert!(
        unready["error"].as_str().unwrap().contains("credentials"),
        "{unready}"
    );
    let metrics = metrics_text(&http, &running.base).await;
    assert!(metrics.contains("tc_relay_paused 1"), "{metrics}");
    assert!(
        metrics.contains("tc_relay_last_error{reason=\"unauthorized\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tc_relay_last_error{reason=\"store\"} 0"),
        "every reason is shown, so a dashboard sees them all: {metrics}"
    );
    running.stop().await;
}

/// What the relays of this test binary log, as the lines `tcbatch serve` would print, each
/// with the name of the thread it came from.
#[derive(Clone, Default)]
struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    /// The log of the whole test binary, captured from the first call on. It is the global
    /// subscriber: tracing caches whether a log line is wanted once for every thread, so a
    /// subscriber of one thread misses the lines another test's thread reached first.
    fn global() -> &'static CapturedLog {
        static LOG: std::sync::OnceLock<CapturedLog> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log = CapturedLog::default();
            let writer = log.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_thread_names(true)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test sets a global subscriber");
            log
        })
    }

    /// The lines logged on this thread: a paused-time test runs its relay on its own thread,
    /// which the test harness names after the test.
    fn lines_of_this_test(&self) -> Vec<String> {
        let thread = std::thread::current();
        let name = thread
            .name()
            .expect("test threads are named after their test");
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines()
            .filter(|line| {
                line.split_whitespace()
                    .any(|word| word.trim_end_matches(':') == name)
            })
            .map(str::to_owned)
            .collect()
    }
}

/// The number a log line gives `field` (`more=12`), 0 without it.
fn field(line: &str, field: &str) -> u64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{field}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn a_store_that_fails_every_commit_is_logged_once_then_counted() {
    let log = CapturedLog::global();
    let dir = tempfile::tempdir().unwrap();
    let numbers = receivers(2, 12);
    let store = store_failing_for(dir.path(), &numbers[0]).await;
    let launch = Launch {
        store: Some(store),
        ..Launch::default()
    };
    let running = Running::start_with(SimConfig::demo(), launch, |c| c).await;
    let http = reqwest::Client::new();
    let now = running.clock.now();
    let failing = record(&numbers[0], now, 3_600_000);
    let failures = 300;
    for _ in 0..failures {
        assert_eq!(running.post(&http, &failing).await.status(), 503);
    }
    let stored = running
        .post(&http, &record(&numbers[1], now, 3_600_000))
        .await;
    assert_eq!(stored.status(), 202);
    running.stop().await;

    let lines = log.lines_of_this_test();
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("ERROR")).collect();
    assert!(errors[0].contains("a group commit failed"), "{errors:?}");
    let recovered = lines
        .iter()
        .find(|l| l.contains("group commits succeed again"))
        .unwrap_or_else(|| panic!("the recovery is logged: {lines:?}"));
    // Every failure is accounted for: each error line, the ones it says were not logged
    // before it, and those the recovery line says were not logged.
    let accounted: u64 =
        errors.iter().map(|l| 1 + field(l, "more")).sum::<u64>() + field(recovered, "unlogged");
    assert_eq!(accounted, failures, "{errors:?} {recovered}");
    assert!(
        errors.len() * 10 < failures as usize,
        "{} error lines for {failures} failures",
        errors.len()
    );
    eprintln!("{} error lines", errors.len());
}

/// A coordinator that never answers, as Redis when it is down.
#[derive(Debug)]
struct CoordinatorDown;

impl CoordinatorDown {
    fn down<'a, T: Send + 'a>(action: &'static str) -> tc_http::CoordinatorFuture<'a, T> {
        Box::pin(async move { Err(tc_http::CoordinatorError::new(action, "connection refused")) })
    }
}

impl tc_http::Coordinator for CoordinatorDown {
    fn token<'a>(
        &'a self,
        _: usize,
        _: EpochMillis,
        _: &'a tc_http::TokenTerms,
    ) -> tc_http::CoordinatorFuture<'a, tc_http::TokenClaim> {
        CoordinatorDown::down("find the token")
    }
    fn publish<'a>(
        &'a self,
        _: usize,
        _: &'a tc_http::Claim,
        _: &'a tc_http::SharedToken,
    ) -> tc_http::CoordinatorFuture<'a, ()> {
        CoordinatorDown::down("publish a token")
    }
    fn release<'a>(
        &'a self,
        _: usize,
        _: &'a tc_http::Claim,
        _: tc_http::Reached,
    ) -> tc_http::CoordinatorFuture<'a, ()> {
        CoordinatorDown::down("release a claim")
    }
    fn retire(&self, _: usize, _: u64) -> tc_http::CoordinatorFuture<'_, ()> {
        CoordinatorDown::down("retire a token")
    }
    fn reserve(
        &self,
        _: usize,
        _: EpochMillis,
        _: tc_core::transport::WindowLimit,
    ) -> tc_http::CoordinatorFuture<'_, tc_http::Reservation> {
        CoordinatorDown::down("reserve a send")
    }
    fn send_finished<'a>(
        &'a self,
        _: usize,
        _: &'a tc_http::Place,
        _: EpochMillis,
    ) -> tc_http::CoordinatorFuture<'a, ()> {
        CoordinatorDown::down("finish a send")
    }
}

#[tokio::test(start_paused = true)]
async fn a_relay_whose_coordinator_is_down_is_not_ready_and_says_why() {
    let launch = Launch {
        coordinator: Some(Arc::new(CoordinatorDown)),
        ..Launch::default()
    };
    let running = Running::start_with(SimConfig::demo(), launch, |c| c).await;
    let http = reqwest::Client::new();
    let ready = || http.get(format!("{}/readyz", running.base)).send();
    assert_eq!(ready().await.unwrap().status(), 200, "nothing waits yet");
    let number = receivers(1, 13).remove(0);
    let posted = running
        .post(&http, &record(&number, running.clock.now(), 3_600_000))
        .await;
    assert_eq!(posted.status(), 202, "posts are still stored");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, unready) = error_answer(ready().await.unwrap()).await;
    assert_eq!(
        (status, unready["code"].as_str()),
        (503, Some("sending_paused"))
    );
    assert!(
        unready["error"]
            .as_str()
            .unwrap()
            .contains("coordinator_unreachable"),
        "{unready}"
    );
    let metrics = metrics_text(&http, &running.base).await;
    assert!(metrics.contains("tc_relay_paused 1"), "{metrics}");
    assert!(
        metrics.contains("tc_relay_last_error{reason=\"coordinator_unreachable\"} 1"),
        "{metrics}"
    );
    // No stop: the batch waits for the coordinator, and a stopping relay waits for its batches.
}

#[tokio::test(start_paused = true)]
async fn an_idempotency_key_used_again_for_another_body_is_refused_naming_it() {
    let running = Running::start(SimConfig::demo(), |c| {
        c.with_linger(Duration::from_secs(60))
    })
    .await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    let numbers = receivers(2, 5);
    let post = |receiver: &str| {
        let body = json!({"call_records": [record(receiver, now, 3_600_000)]});
        http.post(format!("{}/v1/call-records", running.base))
            .header("Idempotency-Key", "order-17")
            .json(&body)
            .send()
    };
    let first: Value = post(&numbers[0]).await.unwrap().json().await.unwrap();
    // The same bytes again: the first answer, replayed.
    let again: Value = post(&numbers[0]).await.unwrap().json().await.unwrap();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["accepted"], first["accepted"]);
    // Another body under the same key: refused, naming the key, and nothing queued.
    let other = post(&numbers[1]).await.unwrap();
    assert_eq!(other.status(), 422);
    let refusal: Value = other.json().await.unwrap();
    // The document lists this 422 with the body it has, which is not the post's answer.
    let openapi: Value = http
        .get(format!("{}/openapi.json", running.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_documented(&openapi, ("post", "/v1/call-records"), 422, &refusal);
    assert_documented(&openapi, ("post", "/v1/call-records"), 202, &first);
    let message = refusal["error"].as_str().unwrap();
    assert!(
        message.contains("order-17") && message.contains("different body"),
        "{message}"
    );
    let metrics = http
        .get(format!("{}/metrics", running.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tc_relay_stored_records{state=\"queued\"} 1"),
        "{metrics}"
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_record_opens_only_to_the_id_its_post_was_answered_with() {
    let running = Running::start(SimConfig::demo(), |c| {
        c.with_linger(Duration::from_secs(60))
    })
    .await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    let numbers = receivers(2, 6);
    let body = json!({"call_records": numbers.iter().map(|r| record(r, now, 3_600_000)).collect::<Vec<_>>()});
    let answer: Value = running.post(&http, &body).await.json().await.unwrap();
    let ids: Vec<String> = answer["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    // Ids do not follow from one another: each carries a random tag.
    let (first, second) = (&ids[0], &ids[1]);
    let number = |id: &str| id.split('-').next().unwrap().to_owned();
    assert_ne!(first.split('-').nth(1), second.split('-').nth(1), "{ids:?}");
    let get = |id: String| {
        let url = format!("{}/v1/call-records/{id}", running.base);
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status() }
    };
    assert_eq!(get(first.clone()).await, 200);
    // The number alone, the next number, or a guessed tag: as if there were no such record.
    assert_eq!(get(number(first)).await, 404);
    assert_eq!(
        get(format!("{}-0000000000000001", number(first))).await,
        404
    );
    let next = format!("{}-{}", number(second), first.split('-').nth(1).unwrap());
    assert_eq!(get(next).await, 404);
    running.stop().await;
}

/// Issue 26, item 2: a stop ends the waits for a token, a window or an API that does not
/// answer at once, and leaves the records queued for the next start.
#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_wait_for_an_api_that_does_not_answer() {
    let client = tc_http::Client::builder()
        // Nothing listens on port 1: every attempt is refused, and retried with backoff.
        .base_url("http://127.0.0.1:1")
        .client_account_id("acct")
        .key_id("key")
        .api_key("secret".to_owned())
        .seed(3)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TokioClock::starting_at(SystemClock.now()).unwrap());
    let config =
        RelayConfig::new(dir.path().join("relay.db")).with_linger(Duration::from_millis(10));
    let relay = Relay::start(config, client, clock.clone()).await.unwrap();
    let now = clock.now();
    let numbers = receivers(3, 7);
    let body = json!({"call_records": numbers.iter().map(|r| record(r, now, 3_600_000)).collect::<Vec<_>>()});
    let answer = tower_post(relay.router(), body.to_string()).await;
    let id: RecordId = answer["accepted"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The batch is cut and its call waits on the unreachable API.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(2), relay.shutdown()).await;
    assert!(
        stopped.is_ok(),
        "the relay did not stop within 2 s of (virtual) time"
    );
    let store = tc_relay::Relay::start(
        RelayConfig::new(dir.path().join("relay.db")),
        tc_http::Client::builder()
            .base_url("http://127.0.0.1:1")
            .client_account_id("acct")
            .key_id("key")
            .api_key("secret".to_owned())
            .build()
            .unwrap(),
        clock,
    )
    .await
    .unwrap();
    let status = store.status(id).await.unwrap().unwrap();
    assert_eq!(status.state, RecordState::Queued, "{status:?}");
    assert!(
        !status.possibly_duplicated,
        "nothing of it left: {status:?}"
    );
    store.shutdown().await;
}

/// Issue 26, item 5: with producer keys, a producer reads its own records only.
#[tokio::test(start_paused = true)]
async fn a_producer_reads_its_own_records_only() {
    let keys =
        ProducerKeys::new([KeyDigest::of_key("dialer-a"), KeyDigest::of_key("dialer-b")]).unwrap();
    let running = Running::start(SimConfig::demo(), |c| {
        c.with_producer_keys(keys)
            .with_linger(Duration::from_secs(60))
    })
    .await;
    let now = running.clock.now();
    let http = reqwest::Client::new();
    let body = record(&receivers(1, 8)[0], now, 3_600_000);
    let posted: Value = http
        .post(format!("{}/v1/call-records", running.base))
        .bearer_auth("dialer-a")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = posted["accepted"][0]["id"].as_str().unwrap().to_owned();
    let read = |key: &'static str| {
        let url = format!("{}/v1/call-records/{id}", running.base);
        let http = http.clone();
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(read("dialer-a").await, 200);
    // Another producer, even holding the whole id, is answered as if there were no record.
    assert_eq!(read("dialer-b").await, 404);
    running.stop().await;
}
