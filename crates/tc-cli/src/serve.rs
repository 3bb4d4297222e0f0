//! `tcbatch serve`: the durable relay of `tc-relay` as a server. Producers post records one by
//! one; the relay stores them, answers, and sends them to the API in full batches.
//!
//! Credentials come from the same sources as `submit` (a `--credentials` file or the
//! environment, never a flag); `--mock` sends to a simulator started in this process.

use crate::connection::CoordinatorChoice;
use crate::submit::credentials;
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tc_core::Region;
use tc_relay::{ProducerKeys, Relay, RelayConfig, Sharing, StoreLocation, TlsConfig, TlsListener};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Producers post to /v1/call-records (one record or {\"call_records\": [...]}); \
                  GET /v1/call-records/{id} says what became of a record. SIGTERM or Ctrl-C \
                  stops taking posts (503, and /readyz 503, for --drain), closes the listener, \
                  finishes the requests in flight and exits; queued \
                  records stay in the store for the next start (or another relay of a shared \
                  store).\n\nSeveral relays share one queue on PostgreSQL (--store \
                  postgres://...): any of them takes posts and answers for any record; the \
                  records of one that dies are taken over by another after --lease.\n\nHTTPS: --tls-cert and \
                  --tls-key (PEM) serve TLS 1.2/1.3; a new certificate is served after a \
                  restart. A non-loopback --listen needs TLS and --producer-keys, or \
                  --insecure-non-loopback and --producer-keys.\n\nExit status: 0 when stopped \
                  by SIGTERM or Ctrl-C; 2 on a usage or credentials error, a certificate or key \
                  that cannot be used, a store that cannot be opened (or is held by another \
                  relay, or shared by relays this one would not share the account with), or an \
                  address that cannot be served on."
)]
pub struct ServeArgs {
    /// Address to serve on. Any but loopback needs --producer-keys and either TLS
    /// (--tls-cert, --tls-key) or --insecure-non-loopback.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Where the queue lives: a SQLite file (created if missing) one relay holds, or
    /// postgres://USER@HOST:PORT/DATABASE, a queue any number of relays share (each needs the
    /// same --coordinator redis://..., or its own --tokens). Default: TCBATCH_STORE (so a
    /// password in the URL stays out of the process list), else the profile's `store`, else
    /// tcbatch-relay.db.
    #[arg(
        long,
        value_name = "PATH|URL",
        env = "TCBATCH_STORE",
        hide_env_values = true
    )]
    pub store: Option<StoreLocation>,
    /// On a shared store: how long a relay that stops answering keeps its records before
    /// another takes them over (such as 15s).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease: Duration,
    /// How long the oldest queued record waits for company before a partial batch leaves
    /// (such as 1s, 250ms, 2m).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub linger: Duration,
    /// After SIGTERM or Ctrl-C: how long posts and /readyz answer 503 before the listener
    /// closes, so a load balancer sees the relay leave (0s closes it at once).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Reads numbers written without + or 00 as national numbers of this region (ISO 3166, e.g. IN).
    #[arg(long, value_name = "CC")]
    pub region: Option<Region>,
    #[command(flatten)]
    pub connection: crate::connection::ConnectionArgs,
    #[command(flatten)]
    pub profile: crate::input_args::ProfileArgs,
    /// Records queued (acknowledged, not yet sent) above which posts get 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = tc_relay::DEFAULT_QUEUE_LIMIT)]
    pub queue_limit: usize,
    /// Batches in flight at once, sent or waiting for their token's window: the most a crash can
    /// leave unanswered (their records are queued again on restart, flagged possibly
    /// duplicated). Default: 4 per token.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub in_flight: Option<u16>,
    /// Never re-send a batch whose outcome is unknown: its records are marked unknown (no
    /// duplicates, but possibly lost records).
    #[arg(long)]
    pub at_most_once: bool,
    /// A file of producer key digests, one SHA-256 (64 hex digits) per line; posts must then
    /// carry `Authorization: Bearer <key>`. A file with no digest stops the start.
    #[arg(long, value_name = "FILE")]
    pub producer_keys: Option<PathBuf>,
    /// The server's certificate chain as PEM, its own certificate first: serve HTTPS.
    /// Needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert as PEM (PKCS#8, PKCS#1 or SEC1, unencrypted).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve on a non-loopback address without TLS. Records and producer keys then cross the
    /// network in clear: only behind a TLS-terminating proxy on the same host.
    #[arg(long)]
    pub insecure_non_loopback: bool,
}

impl ServeArgs {
    /// The certificate and key files, when HTTPS is asked for (clap sees that both are given).
    fn tls_files(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.tls_cert.as_ref().zip(self.tls_key.as_ref())
    }
}

/// `250ms`, `1s`, `1.5s`, `2m`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 250ms, 1s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{unit}` is not a unit: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// The store of a relay started without --store and without a profile's.
const DEFAULT_STORE: &str = "tcbatch-relay.db";

pub fn run(mut args: ServeArgs) -> Result<()> {
    let settings = crate::config::Settings::load(&args.profile)?;
    args.connection.apply_profile(&settings)?;
    if args.store.is_none() {
        let text = settings.profile.store.as_deref().unwrap_or(DEFAULT_STORE);
        args.store = Some(text.parse().context("the profile's `store`")?);
    }
    check_bind(&args)?;
    let tls = load_tls(&args)?;
    let keys = load_producer_keys(&args)?;
    let runtime = crate::runtime()?;
    runtime.block_on(serve(args, tls, keys))
}

/// Off loopback, producers must prove who they are, and the records and keys they send must
/// cross the network inside TLS, unless the operator says a proxy on the host does that.
fn check_bind(args: &ServeArgs) -> Result<()> {
    if args.listen.ip().is_loopback() {
        return Ok(());
    }
    if args.tls_files().is_none() && !args.insecure_non_loopback {
        bail!(
            "refusing to serve on {} without TLS: records and producer keys would cross the \
             network in clear. Give --tls-cert and --tls-key, serve on loopback behind a \
             TLS-terminating proxy, or add --insecure-non-loopback if you accept that",
            args.listen
        );
    }
    if args.producer_keys.is_none() {
        bail!(
            "refusing to serve on {} without --producer-keys: anyone who can reach it could \
             queue records on your account",
            args.listen
        );
    }
    Ok(())
}

/// The certificate and key, read before anything starts so a bad file stops nothing half-way.
fn load_tls(args: &ServeArgs) -> Result<Option<TlsConfig>> {
    let Some((certificate, private_key)) = args.tls_files() else {
        return Ok(None);
    };
    Ok(Some(TlsConfig::from_pem_files(certificate, private_key)?))
}

/// The producer keys, read before anything starts. A file that cannot be read, or holds no
/// digest, stops the start: serving without keys because a file came out empty would let
/// anyone post.
fn load_producer_keys(args: &ServeArgs) -> Result<Option<ProducerKeys>> {
    let Some(file) = &args.producer_keys else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read producer keys {}: give a readable file of SHA-256 digests, one per \
             line (printf %s \"$KEY\" | sha256sum)",
            file.display()
        )
    })?;
    let keys = ProducerKeys::parse_lines(&text)
        .map_err(|e| anyhow::anyhow!("producer keys {}: {e}", file.display()))?;
    Ok(Some(keys))
}

async fn serve(args: ServeArgs, tls: Option<TlsConfig>, keys: Option<ProducerKeys>) -> Result<()> {
    let (simulator, client) = connect(&args).await?;
    let relay = Relay::start(
        relay_config(&args, keys),
        client,
        Arc::new(tc_http::SystemClock),
    )
    .await
    .context("cannot start the relay")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Before the start-up line: a signal sent as soon as it is read must stop the relay cleanly.
    let stop = crate::shutdown::stop_signal(
        "stopping: posts and /readyz answer 503 for --drain, then the listener closes and the \
         requests in flight finish",
    );
    let scheme = if tls.is_some() { "https" } else { "http" };
    if tls.is_none() && !address.ip().is_loopback() {
        eprintln!("tcbatch: WARNING: serving without TLS on {address}: records cross the network in clear");
    }
    let resumed = relay.recovered();
    eprintln!(
        "tcbatch: relay listening on {scheme}://{address} (store {}, {} queued, {} resumed in flight)",
        store_of(&args),
        relay.queue_depth(),
        resumed.requeued + resumed.unknown
    );
    match &tls {
        Some(tls) => relay.serve(TlsListener::new(listener, tls), stop).await?,
        None => relay.serve(listener, stop).await?,
    }
    eprintln!("tcbatch: relay stopped; queued records stay in the store");
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    Ok(())
}

fn store_of(args: &ServeArgs) -> StoreLocation {
    args.store
        .clone()
        .unwrap_or_else(|| StoreLocation::Sqlite(PathBuf::from(DEFAULT_STORE)))
}

/// How this relay shares the account with others on its store: through a Redis coordinator,
/// or with the tokens its operator gave it (the flag or the profile), else not at all. The
/// local coordinator shares with this machine's processes only, and a shared store's relays
/// may run on several machines: it counts as not sharing.
fn sharing(args: &ServeArgs) -> Sharing {
    if let CoordinatorChoice::Redis(_) = args.connection.coordinator_choice() {
        Sharing::Coordinator
    } else if args.connection.tokens.is_some() {
        Sharing::SplitTokens
    } else {
        Sharing::Alone
    }
}

fn relay_config(args: &ServeArgs, keys: Option<ProducerKeys>) -> RelayConfig {
    let mut config = RelayConfig::new(store_of(args))
        .with_lease(args.lease)
        .with_sharing(sharing(args))
        .with_linger(args.linger)
        .with_drain(args.drain)
        .with_queue_limit(args.queue_limit)
        .with_in_flight(args.in_flight.map_or(0, usize::from))
        .with_guarantee(guarantee(args));
    if let Some(region) = args.region {
        config = config.with_region(region);
    }
    if let Some(keys) = keys {
        config = config.with_producer_keys(keys);
    }
    config
}

/// The API client, and the simulator it talks to with --mock.
async fn connect(args: &ServeArgs) -> Result<(Option<tc_sim::Simulator>, tc_http::Client)> {
    let (simulator, base_url, credentials) = if args.connection.mock {
        let sim = tc_sim::Simulator::start(tc_sim::SimConfig::demo())
            .await
            .context("cannot start the in-process simulator")?;
        let credentials = credentials::demo(&sim);
        let base_url = sim.base_url();
        eprintln!("tcbatch: sending to the built-in simulator at {base_url} (demo credentials)");
        (Some(sim), base_url, credentials)
    } else {
        let credentials = args.connection.load_credentials()?;
        (None, args.connection.base_url(), credentials)
    };
    let client = args
        .connection
        .client_builder(base_url, &credentials)?
        .guarantee(guarantee(args))
        .build()?;
    Ok((simulator, client))
}

/// At least once unless `--at-most-once`: the relay and its client follow the same guarantee.
fn guarantee(args: &ServeArgs) -> tc_http::Guarantee {
    if args.at_most_once {
        tc_http::Guarantee::AtMostOnce
    } else {
        tc_http::Guarantee::AtLeastOnce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("5h").unwrap_err().contains("unit"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_non_loopback_bind_needs_the_insecure_flag_and_producer_keys() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ServeArgs,
        }
        let args = |extra: &[&str]| {
            let mut argv = vec!["serve", "--listen", "0.0.0.0:8090"];
            argv.extend_from_slice(extra);
            Cli::parse_from(argv).args
        };
        let refused = check_bind(&args(&[])).unwrap_err().to_string();
        assert!(refused.contains("--insecure-non-loopback"), "{refused}");
        let no_keys = check_bind(&args(&["--insecure-non-loopback"]))
            .unwrap_err()
            .to_string();
        assert!(no_keys.contains("--producer-keys"), "{no_keys}");
        let both = args(&["--insecure-non-loopback", "--producer-keys", "keys"]);
        assert!(check_bind(&both).is_ok());
        let loopback = Cli::parse_from(["serve"]).args;
        assert!(check_bind(&loopback).is_ok());
    }

    #[test]
    fn a_non_loopback_bind_with_tls_needs_producer_keys_but_not_the_insecure_flag() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ServeArgs,
        }
        let tls = ["--tls-cert", "relay.crt", "--tls-key", "relay.key"];
        let args = |extra: &[&str]| {
            let mut argv = vec!["serve", "--listen", "0.0.0.0:8090"];
            argv.extend_from_slice(&tls);
            argv.extend_from_slice(extra);
            Cli::parse_from(argv).args
        };
        let no_keys = check_bind(&args(&[])).unwrap_err().to_string();
        assert!(no_keys.contains("--producer-keys"), "{no_keys}");
        assert!(check_bind(&args(&["--producer-keys", "keys"])).is_ok());
        let half = Cli::try_parse_from(["serve", "--tls-cert", "relay.crt"]);
        let half = half.err().expect("--tls-cert alone is refused");
        assert_eq!(half.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(half.to_string().contains("--tls-key"), "{half}");
    }
}
