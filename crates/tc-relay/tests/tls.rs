//! The relay over HTTPS: a certificate made at test time for 127.0.0.1, trusted by the test's
//! client. Posts and status reads work over TLS; plain HTTP, a silent client and a broken
//! certificate or key each fail alone, with the server serving on and the error naming the
//! file to fix. Paused time: the handshake timeout is virtual.

use serde_json::{json, Value};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tc_core::EpochMillis;
use tc_http::{Clock, SystemClock, TokioClock};
use tc_relay::{Relay, RelayConfig, TlsConfig, TlsError, TlsListener};
use tc_sim::{SimConfig, Simulator};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

/// A self-signed certificate for the names the tests connect to, and its key, as PEM.
struct Identity {
    certificate: String,
    private_key: String,
}

fn identity() -> Identity {
    let made = rcgen::generate_simple_self_signed(["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap();
    Identity {
        certificate: made.cert.pem(),
        private_key: made.signing_key.serialize_pem(),
    }
}

/// Writes the identity into `dir` (a tempdir: keys go nowhere else) and returns the paths.
fn write_identity(dir: &Path, identity: &Identity) -> (PathBuf, PathBuf) {
    let certificate = dir.join("relay.crt");
    let private_key = dir.join("relay.key");
    std::fs::write(&certificate, &identity.certificate).unwrap();
    std::fs::write(&private_key, &identity.private_key).unwrap();
    (certificate, private_key)
}

/// A client that trusts only the test's certificate.
fn trusting(identity: &Identity) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(identity.certificate.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .build()
        .unwrap()
}

fn record(receiver: &str, now: EpochMillis) -> Value {
    json!({
        "caller_number": "+91 98765 43210",
        "receiver_number": receiver,
        "dynamic_label_name": "Centro Bank",
        "starts_at": now.as_i64(),
        "ends_at": now.plus(3_600_000).as_i64(),
    })
}

/// A relay serving HTTPS on 127.0.0.1, sending to a simulator.
struct Served {
    sim: Simulator,
    address: std::net::SocketAddr,
    clock: Arc<TokioClock>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<Result<(), tc_relay::Error>>,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(tls: TlsConfig) -> Served {
        let sim = Simulator::start(SimConfig::demo()).await.unwrap();
        let account = sim.config();
        let client = tc_http::Client::builder()
            .base_url(sim.base_url())
            .client_account_id(account.client_account_id.as_str())
            .key_id(account.key_id.as_str())
            .api_key(account.api_key.clone())
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TokioClock::starting_at(SystemClock.now()).unwrap());
        let config = RelayConfig::new(dir.path().join("relay.db"));
        let relay = Relay::start(config, client, clock.clone()).await.unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let listener = TlsListener::new(tcp, &tls);
        let served = tokio::spawn(relay.serve(listener, async {
            let _ = stopped.await;
        }));
        Served {
            sim,
            address,
            clock,
            stop,
            served,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.address)
    }

    /// Posts one record over TLS and returns the answer's status and body.
    async fn post(&self, http: &reqwest::Client, receiver: &str) -> (u16, Value) {
        let answer = http
            .post(self.url("/v1/call-records"))
            .json(&record(receiver, self.clock.now()))
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    /// Stops the relay the way a signal does; it must end without error.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
        self.sim.shutdown().await;
    }
}

fn tls_config(identity: &Identity) -> TlsConfig {
    TlsConfig::from_pem(
        identity.certificate.as_bytes(),
        identity.private_key.as_bytes(),
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_record_posted_over_tls_is_acknowledged_and_read_back() {
    let identity = identity();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, private_key) = write_identity(dir.path(), &identity);
    let served =
        Served::start(TlsConfig::from_pem_files(&certificate, &private_key).unwrap()).await;
    let http = trusting(&identity);

    let (status, answer) = served.post(&http, "+919812345678").await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["accepted"][0]["id"].as_str().unwrap().to_owned();
    let read = http
        .get(served.url(&format!("/v1/call-records/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["id"], id.as_str(), "{read}");
    // Graceful shutdown over TLS ends serve() without error, as over plain HTTP.
    served.stop().await;
}

#[tokio::test(start_paused = true)]
async fn plain_http_to_the_tls_port_fails_and_the_server_serves_on() {
    let identity = identity();
    let served = Served::start(tls_config(&identity)).await;
    let plain = reqwest::Client::new()
        .post(format!("http://{}/v1/call-records", served.address))
        .json(&record("+919812345678", served.clock.now()))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP got an answer from the TLS port: {plain:?}"
    );
    let (status, answer) = served.post(&trusting(&identity), "+919812345678").await;
    assert_eq!(status, 202, "{answer}");
    served.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_does_not_trust_the_certificate_is_refused_and_others_are_served() {
    let identity = identity();
    let served = Served::start(tls_config(&identity)).await;
    let stranger = trusting(&self::identity());
    let refused = stranger.get(served.url("/healthz")).send().await;
    assert!(refused.is_err(), "{refused:?}");
    let (status, answer) = served.post(&trusting(&identity), "+919812345678").await;
    assert_eq!(status, 202, "{answer}");
    served.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_does_not_hold_up_another_clients_handshake() {
    let identity = identity();
    // Longer than any test runs, even in virtual time: only a handshake that runs beside the
    // silent one can let the request through while the silent one is still connected.
    let served = Served::start(
        tls_config(&identity).with_handshake_timeout(Duration::from_secs(24 * 60 * 60)),
    )
    .await;
    let mut silent = std::net::TcpStream::connect(served.address).unwrap();
    silent.set_nonblocking(true).unwrap();

    let (status, answer) = served.post(&trusting(&identity), "+919812345678").await;
    assert_eq!(status, 202, "{answer}");
    // Still connected: the server neither timed it out nor closed it to make room.
    let mut byte = [0u8; 1];
    let still_open = silent.read(&mut byte);
    assert!(
        matches!(&still_open, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the silent connection was closed or answered: {still_open:?}"
    );
    served.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_handshake_is_closed_at_the_timeout() {
    let identity = identity();
    let timeout = Duration::from_secs(5);
    let served = Served::start(tls_config(&identity).with_handshake_timeout(timeout)).await;
    let started = tokio::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(served.address)
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let read = silent.read(&mut byte).await;
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "the server sent data to a client that said nothing: {read:?}"
    );
    // Paused time: nothing but the handshake timeout moves the clock, so the close comes at
    // exactly the timeout, neither before nor after.
    assert_eq!(started.elapsed(), timeout, "closed at the wrong time");
    // And the server is still there.
    let (status, _) = served.post(&trusting(&identity), "+919812345678").await;
    assert_eq!(status, 202);
    served.stop().await;
}

/// The error's message, checked never to quote the key.
fn message(error: &TlsError, identity: &Identity) -> String {
    let shown = format!("{error} / {error:?}");
    let key_body: String = identity.private_key.lines().nth(1).unwrap().to_owned();
    assert!(!shown.contains(&key_body), "the error quotes the key");
    shown
}

#[test]
fn a_key_that_does_not_belong_to_the_certificate_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let ours = identity();
    let theirs = identity();
    let (certificate, _) = write_identity(dir.path(), &ours);
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, &theirs.private_key).unwrap();
    let error = TlsConfig::from_pem_files(&certificate, &other_key).unwrap_err();
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
    let shown = message(&error, &theirs);
    assert!(shown.contains("does not belong"), "{shown}");
    assert!(shown.contains(&*certificate.to_string_lossy()), "{shown}");
    assert!(shown.contains(&*other_key.to_string_lossy()), "{shown}");
}

#[test]
fn an_empty_certificate_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let identity = identity();
    let (certificate, private_key) = write_identity(dir.path(), &identity);
    std::fs::write(&certificate, "").unwrap();
    let error = TlsConfig::from_pem_files(&certificate, &private_key).unwrap_err();
    assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");
    let shown = message(&error, &identity);
    assert!(shown.contains(&*certificate.to_string_lossy()), "{shown}");
    assert!(shown.contains("holds no certificate"), "{shown}");
}

#[test]
fn an_empty_key_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let identity = identity();
    let (certificate, private_key) = write_identity(dir.path(), &identity);
    std::fs::write(&private_key, "").unwrap();
    let error = TlsConfig::from_pem_files(&certificate, &private_key).unwrap_err();
    assert!(matches!(error, TlsError::NoPrivateKey { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(shown.contains(&*private_key.to_string_lossy()), "{shown}");
    assert!(shown.contains("holds no private key"), "{shown}");
}

#[test]
fn certificate_and_key_given_the_wrong_way_round_are_refused_naming_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let identity = identity();
    let (certificate, private_key) = write_identity(dir.path(), &identity);
    let error = TlsConfig::from_pem_files(&private_key, &certificate).unwrap_err();
    assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");
    let shown = message(&error, &identity);
    assert!(shown.contains(&*private_key.to_string_lossy()), "{shown}");
}

#[test]
fn a_missing_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let identity = identity();
    let (certificate, _) = write_identity(dir.path(), &identity);
    let missing = dir.path().join("missing.key");
    let error = TlsConfig::from_pem_files(&certificate, &missing).unwrap_err();
    assert!(matches!(error, TlsError::Unreadable { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(shown.contains("private key"), "{shown}");
    assert!(shown.contains(&*missing.to_string_lossy()), "{shown}");
    let source = std::error::Error::source(&error).expect("the I/O error is the source");
    assert_eq!(
        source.downcast_ref::<std::io::Error>().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
}

#[test]
fn broken_pem_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let identity = identity();
    let (certificate, private_key) = write_identity(dir.path(), &identity);
    // A certificate section that never ends, as a truncated copy leaves it.
    let truncated: String = identity
        .certificate
        .lines()
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&certificate, truncated).unwrap();
    let error = TlsConfig::from_pem_files(&certificate, &private_key).unwrap_err();
    assert!(matches!(error, TlsError::BadPem { .. }), "{error:?}");
    assert!(error.to_string().contains(&*certificate.to_string_lossy()));
}

#[test]
fn the_configs_debug_output_never_shows_the_key() {
    let identity = identity();
    let tls = tls_config(&identity);
    let shown = format!("{tls:?}");
    let key_body: String = identity.private_key.lines().nth(1).unwrap().to_owned();
    assert!(!shown.contains(&key_body), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("handshake_timeout"), "{shown}");
}
