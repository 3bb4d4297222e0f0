//! A hostile or broken server: redirects, unreadable or huge answers, absurd `Retry-After`s, a
//! failing token endpoint. Each runs in paused time against a scripted loopback server in the
//! same runtime, so every wait is virtual and every count exact.

mod common;

use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tc_http::{Client, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a scripted server answers a request, by its path.
type Script = fn(&str) -> Vec<u8>;

/// A loopback HTTP/1.1 server answering each request per `script`, one request per connection.
struct Scripted {
    port: u16,
    /// The paths requested, in order.
    paths: Arc<Mutex<Vec<String>>>,
    /// Answer bytes the server managed to write.
    written: Arc<AtomicU64>,
}

impl Scripted {
    async fn start(script: Script) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicU64::new(0));
        let (seen, count) = (paths.clone(), written.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, script, seen.clone(), count.clone()));
            }
        });
        Scripted {
            port,
            paths,
            written,
        }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    fn client(&self) -> Client {
        Client::builder()
            .base_url(format!("http://127.0.0.1:{}", self.port))
            .client_account_id("acct")
            .key_id("key")
            .api_key("the-api-key".to_owned())
            // Generous: with time paused, a timeout is only ever reached by auto-advance.
            .request_timeout(Duration::from_secs(3_600))
            .seed(1)
            .build()
            .unwrap()
    }
}

async fn answer(
    mut stream: TcpStream,
    script: Script,
    paths: Arc<Mutex<Vec<String>>>,
    written: Arc<AtomicU64>,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    // The head, then as much body as it announces; requests here are small.
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split(' ').nth(1).unwrap_or("").to_owned();
    paths.lock().unwrap().push(path.clone());
    for piece in script(&path).chunks(64 * 1024) {
        if stream.write_all(piece).await.is_err() {
            return;
        }
        written.fetch_add(piece.len() as u64, Ordering::SeqCst);
    }
    let _ = stream.shutdown().await;
}

fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

fn token_or(path: &str, otherwise: fn() -> Vec<u8>) -> Vec<u8> {
    if path.ends_with("/token") {
        http(
            "200 OK",
            "",
            br#"{"token":"t0k","created_at":"2030-01-01T00:00:00Z"}"#,
        )
    } else {
        otherwise()
    }
}

/// The "other host": a loopback server on another port that counts whatever reaches it.
async fn other_host() -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicU64::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, connections)
}

static OTHER_PORT: AtomicU64 = AtomicU64::new(0);

fn redirect_elsewhere(status: &str) -> Vec<u8> {
    let port = OTHER_PORT.load(Ordering::SeqCst);
    let location = format!("location: http://127.0.0.1:{port}/collect\r\n");
    http(status, &location, b"")
}

#[tokio::test(start_paused = true)]
async fn a_redirect_is_never_followed_and_no_credential_leaves_the_origin() {
    let (port, reached) = other_host().await;
    OTHER_PORT.store(u64::from(port), Ordering::SeqCst);
    let batch = &batches(70, 1, 1)[0];

    // The token request redirected: the API key must not follow it.
    let server = Scripted::start(|_| redirect_elsewhere("308 Permanent Redirect")).await;
    let error = server
        .client()
        .create_call_records(batch)
        .await
        .unwrap_err();
    let Error::Redirected {
        endpoint,
        status,
        location,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((*endpoint, *status), ("token", 308));
    assert_eq!(*location, format!("http://127.0.0.1:{port}/collect"));
    assert!(error.to_string().contains(location.as_str()), "{error}");
    assert_eq!(server.paths().len(), 1, "asked once, not retried");

    // The create request redirected: the records must not follow it.
    let server =
        Scripted::start(|path| token_or(path, || redirect_elsewhere("307 Temporary Redirect")))
            .await;
    let error = server
        .client()
        .create_call_records(batch)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Redirected {
                status: 307,
                endpoint: "create call records",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.outcome_unknown(), "the origin stored nothing");
    assert_eq!(error.status(), Some(307));
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the other host got nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_2xx_create_answer_that_cannot_be_read_may_have_stored_the_batch() {
    let batch = &batches(71, 1, 1)[0];
    let scripts: [Script; 4] = [
        |p| token_or(p, || http("200 OK", "", b"{}")),
        |p| {
            token_or(p, || {
                http(
                    "200 OK",
                    "content-type: text/html\r\n",
                    b"<html>Welcome</html>",
                )
            })
        },
        |p| {
            token_or(p, || {
                let id = "x".repeat(300);
                http("200 OK", "", format!(r#"{{"batch_id":"{id}"}}"#).as_bytes())
            })
        },
        |p| token_or(p, || http("201 Created", "", br#"{"batch_id":""}"#)),
    ];
    for script in scripts {
        let server = Scripted::start(script).await;
        let error = server
            .client()
            .create_call_records(batch)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::InvalidResponse {
                    possibly_stored: true,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.outcome_unknown(), "{error}");
        assert!(
            error.to_string().contains("may have been stored"),
            "{error}"
        );
        assert_eq!(
            server.paths().len(),
            2,
            "one token, one create: not re-sent"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_20_mb_answer_is_not_buffered_whole() {
    let batch = &batches(72, 1, 1)[0];
    // Announced with its length: refused before reading.
    let server =
        Scripted::start(|p| token_or(p, || http("200 OK", "", &vec![b' '; 20 << 20]))).await;
    let error = server
        .client()
        .create_call_records(batch)
        .await
        .unwrap_err();
    assert!(error.outcome_unknown(), "{error:?}");
    assert!(
        error.to_string().contains("longer than 16384 bytes"),
        "{error}"
    );
    // Streamed without a length: read up to the limit, then dropped.
    let server = Scripted::start(|p| {
        token_or(p, || {
            let mut answer =
                b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{\"batch_id\":\"".to_vec();
            answer.extend(std::iter::repeat_n(b'a', 20 << 20));
            answer
        })
    })
    .await;
    let error = server
        .client()
        .create_call_records(batch)
        .await
        .unwrap_err();
    assert!(error.outcome_unknown(), "{error:?}");
    let written = server.written.load(Ordering::SeqCst);
    assert!(written < 20 << 20, "the client read all {written} bytes");
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_is_capped_and_spends_no_token_creations() {
    static CREATES: AtomicU64 = AtomicU64::new(0);
    let server = Scripted::start(|path| {
        token_or(path, || match CREATES.fetch_add(1, Ordering::SeqCst) {
            0 => http(
                "429 Too Many Requests",
                "retry-after: 99999999999\r\n",
                b"{}",
            ),
            _ => http("200 OK", "", br#"{"batch_id":"b-1"}"#),
        })
    })
    .await;
    let client = server.client();
    let started = tokio::time::Instant::now();
    let created = client
        .create_call_records(&batches(73, 1, 1)[0])
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(created.batch_id, "b-1");
    let tokens = server
        .paths()
        .iter()
        .filter(|p| p.ends_with("/token"))
        .count();
    assert_eq!(
        tokens,
        1,
        "the hold must not spend creations: {:?}",
        server.paths()
    );
    // The documented cap (120 s) plus the jitter the seed gives: the client's first draw
    // (seed 1) in `[0, base delay]`, the base delay 500 ms. Time is paused and the server
    // answers at once, so the wait is exactly that.
    let jitter = splitmix64_first(1) % (500 + 1);
    assert_eq!(
        waited,
        Duration::from_millis(120_000 + jitter),
        "{waited:?}"
    );
    assert_eq!(client.stats().rate_limited, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_token_endpoint_is_named_as_the_token_endpoint() {
    let server = Scripted::start(|_| http("500 Internal Server Error", "", b"oops")).await;
    let error = server
        .client()
        .create_call_records(&batches(74, 1, 1)[0])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::GaveUp {
                endpoint: "token",
                possibly_stored: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("token: "), "{error}");
    assert_eq!(
        server.paths().len(),
        6,
        "six attempts, each a token request"
    );
}

/// The first value of tc-core's jitter generator (splitmix64) for `seed`, written out here so
/// the test states the schedule it expects rather than borrowing the code under test.
fn splitmix64_first(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
