//! `tcbatch mock`: the simulator as a stand-alone local server, configured by flags.

use anyhow::Context;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use tc_sim::{SimConfig, Simulator};

/// Flags of `tcbatch mock`. Unset credentials fall back to the demo ones of [`SimConfig::demo`].
#[derive(Clone, clap::Args)]
#[command(
    after_help = "Exit status: 0 when stopped by Ctrl-C or SIGTERM; 2 on a usage error or \
                        an address that cannot be listened on."
)]
pub struct MockArgs {
    /// Address to serve on. Loopback only, unless --allow-non-loopback is given.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve on a non-loopback address. The simulator has no TLS and accepts demo credentials,
    /// so anyone who can reach it can use it.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// The account id the simulator serves [default: the demo id printed at start]
    #[arg(long, value_name = "ID")]
    pub client_account_id: Option<String>,
    /// The Key ID the token endpoint accepts [default: the demo key id printed at start]
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// The secret API key the token endpoint accepts [default: the demo key printed at start]
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Create requests allowed per token per minute.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_per_minute: u32,
    /// Length of the rate window in milliseconds: --rate-per-minute requests are allowed per
    /// token in any window this long. Shorter windows make load tests take seconds.
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window_ms: u64,
    /// Seconds a token stays valid.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_ttl: u64,
    /// Probability (0 to 1) that a create request answers 500 and stores nothing.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = probability)]
    pub fail_rate: f64,
    /// Probability (0 to 1) that a create request stores its batch, then drops the connection
    /// without answering.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = probability)]
    pub drop_rate: f64,
    /// Milliseconds of delay added to every request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Every Nth create request answers 429 with Retry-After: 1 (0: never).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub storm_every: u32,
    /// Seed of the random faults, tokens and ids: same seed and request order, same run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
}

impl MockArgs {
    /// The simulator configuration these flags describe.
    pub fn sim_config(&self) -> SimConfig {
        let demo = SimConfig::demo();
        SimConfig {
            client_account_id: self
                .client_account_id
                .clone()
                .unwrap_or(demo.client_account_id),
            key_id: self.key_id.clone().unwrap_or(demo.key_id),
            api_key: self.api_key.clone().unwrap_or(demo.api_key),
            rate_per_minute: self.rate_per_minute,
            rate_window: Duration::from_millis(self.rate_window_ms),
            token_ttl: Duration::from_secs(self.token_ttl),
            fail_rate: self.fail_rate,
            drop_rate: self.drop_rate,
            latency: Duration::from_millis(self.latency_ms),
            storm_every: self.storm_every,
            seed: self.seed,
            ..demo
        }
    }
}

impl fmt::Debug for MockArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockArgs")
            .field("listen", &self.listen)
            .field("rate_window_ms", &self.rate_window_ms)
            .field("allow_non_loopback", &self.allow_non_loopback)
            .field("config", &self.sim_config())
            .finish()
    }
}

fn probability(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "`{text}` is not a probability; give a number from 0 to 1, such as 0.05"
        )),
    }
}

/// Starts the simulator, prints where it listens and the credentials it accepts, and serves
/// until Ctrl-C. The demo credentials are printed (telling them is the point); a key the operator
/// chose with `--api-key` is a secret of theirs and is never printed.
pub async fn run(args: MockArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        anyhow::bail!(
            "refusing to listen on {}: the simulator has no TLS and accepts known demo credentials, \
             so anyone who can reach that address could use it; listen on 127.0.0.1 (the default) \
             or pass --allow-non-loopback if you really mean to expose it",
            args.listen
        );
    }
    let config = args.sim_config();
    let sim = Simulator::start_on(config, args.listen)
        .await
        .with_context(|| {
            format!(
                "could not start the simulator on {}; is the port in use? try --listen 127.0.0.1:0",
                args.listen
            )
        })?;
    // Before the banner: a signal sent as soon as it is read must stop the simulator cleanly.
    let stop = crate::shutdown::stop_signal("stopping the simulator");
    println!("{}", banner(&sim, &args));
    sim.serve_until(stop).await;
    Ok(())
}

fn banner(sim: &Simulator, args: &MockArgs) -> String {
    let c = sim.config();
    let url = sim.base_url();
    let api_key = match args.api_key {
        Some(_) => "[the key given with --api-key; not shown]",
        None => c.api_key.as_str(),
    };
    format!(
        "Truecaller Call Personalisation API simulator listening on {url}\n\
         \n  base URL           {url}\n  client account id  {}\n  key id             {}\n  api key            {}\n\
         \n  limits: {} create requests per minute per token, tokens valid {} s, {} token creations per {} min\
         \n  faults: fail_rate {}, drop_rate {}, latency {} ms, storm_every {}, seed {}\
         \n  admin:  GET {url}/__sim/counters, GET {url}/__sim/records\
         \n\nPress Ctrl-C to stop.",
        c.client_account_id,
        c.key_id,
        api_key,
        c.rate_per_minute,
        c.token_ttl.as_secs(),
        c.token_creations_per_window,
        c.token_creation_window.as_secs() / 60,
        c.fail_rate,
        c.drop_rate,
        c.latency.as_millis(),
        c.storm_every,
        c.seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mock: MockArgs,
    }

    fn parse(args: &[&str]) -> Result<MockArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("mock").chain(args.iter().copied())).map(|c| c.mock)
    }

    #[test]
    fn flags_map_onto_the_config() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--client-account-id",
            "acc",
            "--key-id",
            "k",
            "--api-key",
            "s",
            "--rate-per-minute",
            "5",
            "--token-ttl",
            "2",
            "--fail-rate",
            "0.5",
            "--drop-rate",
            "0.25",
            "--latency-ms",
            "7",
            "--storm-every",
            "3",
            "--seed",
            "42",
        ])
        .unwrap();
        let c = args.sim_config();
        assert_eq!(
            (
                c.client_account_id.as_str(),
                c.key_id.as_str(),
                c.api_key.as_str()
            ),
            ("acc", "k", "s")
        );
        assert_eq!(
            (c.rate_per_minute, c.token_ttl, c.latency),
            (5, Duration::from_secs(2), Duration::from_millis(7))
        );
        assert_eq!(
            (c.fail_rate, c.drop_rate, c.storm_every, c.seed),
            (0.5, 0.25, 3, 42)
        );
        assert!(
            !format!("{args:?}").contains("\"s\""),
            "the api key must not reach Debug output"
        );
    }

    #[test]
    fn defaults_are_the_documented_limits() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8080".parse().unwrap());
        let c = args.sim_config();
        assert_eq!(
            (c.rate_per_minute, c.token_ttl),
            (60, Duration::from_secs(3600))
        );
        assert_eq!(c.api_key, SimConfig::demo().api_key);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let err = parse(&["--fail-rate", "1.5"]).unwrap_err().to_string();
        assert!(err.contains("not a probability"), "{err}");
        assert!(parse(&["--rate-per-minute", "0"]).is_err());
    }

    #[tokio::test]
    async fn the_banner_never_shows_a_chosen_api_key() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "s3cr3t-of-the-operator",
        ])
        .unwrap();
        let sim = Simulator::start_on(args.sim_config(), args.listen)
            .await
            .unwrap();
        let text = banner(&sim, &args);
        sim.shutdown().await;
        assert!(!text.contains("s3cr3t-of-the-operator"), "{text}");
        assert!(text.contains("not shown"), "{text}");
        let demo = parse(&["--listen", "127.0.0.1:0"]).unwrap();
        let sim = Simulator::start_on(demo.sim_config(), demo.listen)
            .await
            .unwrap();
        let text = banner(&sim, &demo);
        sim.shutdown().await;
        assert!(
            text.contains(&SimConfig::demo().api_key),
            "the demo key is printed: {text}"
        );
    }

    #[tokio::test]
    async fn non_loopback_needs_the_explicit_flag() {
        let args = parse(&["--listen", "0.0.0.0:0"]).unwrap();
        let err = run(args).await.unwrap_err().to_string();
        assert!(err.contains("--allow-non-loopback"), "{err}");
    }
}
