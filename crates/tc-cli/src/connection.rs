//! The flags that say where the API is and who is calling it, shared by every command that talks
//! to the API (`submit`, `serve`, `status`, `labels`, `check`), so that they read the same
//! names, the same credentials and the same help everywhere.

use crate::submit::credentials::{self, Credentials};
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// API base URL. Default: the profile's, else the API's documented host.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Client account id; defaults to $TRUECALLER_CLIENT_ACCOUNT_ID.
    #[arg(long, value_name = "ID")]
    pub client_account_id: Option<String>,
    /// A file of KEY=VALUE lines: TRUECALLER_CLIENT_ACCOUNT_ID, TRUECALLER_KEY_ID, TRUECALLER_API_KEY.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Access tokens to send on in parallel, each held to 60 requests per minute (1 to 10).
    /// Default: the profile's, else 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=10))]
    pub tokens: Option<u8>,
    /// Share the account with every other process that uses this Redis (several pushes or
    /// relays on one account): its tokens, its 10 token creations per 30 minutes and each
    /// token's rate window. While Redis cannot be reached, nothing is sent. Without it, this
    /// process assumes it is the account's only user.
    #[arg(long, value_name = "URL")]
    pub coordinator: Option<String>,
    /// Talk to a simulator started inside this process, with demo credentials (no account
    /// needed; it forgets everything when the command ends).
    #[arg(long)]
    pub mock: bool,
    /// Requests allowed per token per rate window. Only for a simulator started with another
    /// limit (benchmarks); the API allows 60 per minute.
    #[arg(long, default_value_t = 60, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// Length of the rate window in milliseconds (see --rate-limit).
    #[arg(long, default_value_t = 60_000, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window_ms: u64,
}

impl ConnectionArgs {
    /// Where the API is: `--base-url`, else the profile's, else the documented host.
    pub fn base_url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| tc_http::DEFAULT_BASE_URL.to_owned())
    }

    /// Tokens to send on: `--tokens`, else the profile's, else 1.
    pub fn tokens(&self) -> u8 {
        self.tokens.unwrap_or(1)
    }

    /// Fills what the flags left unset from the profile `profile` names (none: nothing).
    ///
    /// # Errors
    /// A config file that cannot be read, an unknown profile, or tokens not 1 to 10.
    pub fn apply_profile_of(&mut self, profile: &crate::input_args::ProfileArgs) -> Result<()> {
        let settings = crate::config::Settings::load(profile)?;
        self.apply_profile(&settings)
    }

    /// Fills what the flags left unset from the config file's profile.
    ///
    /// # Errors
    /// A profile whose tokens are not 1 to 10.
    pub fn apply_profile(&mut self, settings: &crate::config::Settings) -> Result<()> {
        settings.apply_connection(crate::config::Connection {
            base_url: &mut self.base_url,
            tokens: &mut self.tokens,
            credentials: &mut self.credentials,
            coordinator: &mut self.coordinator,
        })?;
        Ok(())
    }

    /// The operator's credentials from `--credentials` or the environment (`--client-account-id`
    /// winning over both); not for `--mock`, whose demo credentials come with its simulator.
    pub fn load_credentials(&self) -> Result<Credentials> {
        credentials::load(
            self.credentials.as_deref(),
            self.client_account_id.as_deref(),
        )
    }

    /// A client for `base_url` and `credentials` with these flags' tokens, rate limit and
    /// coordinator.
    ///
    /// # Errors
    /// A `--coordinator` that is not a Redis URL, or whose server refuses its credentials.
    pub fn client_builder(
        &self,
        base_url: String,
        credentials: &Credentials,
    ) -> Result<tc_http::ClientBuilder> {
        let coordinator = match &self.coordinator {
            Some(url) => {
                let coordinator =
                    tc_redis::RedisCoordinator::new(url, &credentials.client_account_id)
                        .context("--coordinator")?
                        .with_api(&base_url);
                // A refused password is a mistake, as a wrong API key is: said now, exit 2,
                // rather than waited on forever.
                coordinator.check_credentials().context("--coordinator")?;
                eprintln!(
                    "tcbatch: sharing the account through Redis at {}",
                    coordinator.server()
                );
                Some(coordinator)
            }
            None => None,
        };
        let builder = credentials::client_builder(
            base_url,
            credentials,
            self.tokens(),
            self.rate_limit,
            self.rate_window_ms,
        );
        Ok(match coordinator {
            Some(coordinator) => builder.coordinator(std::sync::Arc::new(coordinator)),
            None => builder,
        })
    }

    /// Connects as these flags say: the API (or `--base-url`) with the operator's credentials,
    /// or, with `--mock`, a simulator started here with its demo account.
    pub async fn connect(&self) -> Result<Connection> {
        self.connect_with(|builder| builder).await
    }

    /// As [`ConnectionArgs::connect`], with the command's own client settings on top.
    pub async fn connect_with(
        &self,
        settings: impl FnOnce(tc_http::ClientBuilder) -> tc_http::ClientBuilder,
    ) -> Result<Connection> {
        if !self.mock {
            let credentials = self.load_credentials()?;
            let client = settings(self.client_builder(self.base_url(), &credentials)?).build()?;
            return Ok(Connection {
                simulator: None,
                client,
            });
        }
        let simulator = tc_sim::Simulator::start(tc_sim::SimConfig::demo())
            .await
            .context("cannot start the in-process simulator")?;
        let credentials = credentials::demo(&simulator);
        let base_url = simulator.base_url();
        eprintln!(
            "tcbatch: talking to the built-in simulator at {base_url} (demo credentials; it \
             starts empty and stops with this command)"
        );
        let client = settings(self.client_builder(base_url, &credentials)?).build()?;
        Ok(Connection {
            simulator: Some(simulator),
            client,
        })
    }
}

/// A client, and the simulator it talks to under `--mock` (stopped by [`Connection::close`]).
pub struct Connection {
    simulator: Option<tc_sim::Simulator>,
    pub client: tc_http::Client,
}

impl Connection {
    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.client.config().base_url()
    }

    pub async fn close(self) {
        if let Some(simulator) = self.simulator {
            simulator.shutdown().await;
        }
    }
}
