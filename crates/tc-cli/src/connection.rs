//! The flags that say where the API is and who is calling it, shared by every command that talks
//! to the API (`submit`, `serve`, `status`, `labels`, `check`), so that they read the same
//! names, the same credentials and the same help everywhere.

use crate::submit::credentials::{self, Credentials};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The state directory's variable, for the flag and for `config show`.
pub const ENV_STATE_DIR: &str = "TCBATCH_STATE_DIR";

/// Where tcbatch keeps its state: the flag every command with a coordinator shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StateDirArg {
    /// Where the local coordinator keeps each account's tokens (sealed), budget and rate
    /// windows, one file per account and API. Default: the profile's, else
    /// $XDG_STATE_HOME/tcbatch, else ~/.local/state/tcbatch.
    #[arg(long, value_name = "DIR", env = ENV_STATE_DIR, hide_env_values = true)]
    pub state_dir: Option<PathBuf>,
}

impl StateDirArg {
    /// The state directory: the flag's (or $TCBATCH_STATE_DIR), else the profile's (filled in
    /// by `apply_profile`), else the XDG state directory's `tcbatch`.
    ///
    /// # Errors
    /// No directory given and neither $XDG_STATE_HOME nor $HOME set.
    pub fn dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.state_dir {
            return Ok(dir.clone());
        }
        default_state_dir().context(
            "no state directory for the local coordinator: neither XDG_STATE_HOME nor HOME is \
             set. Give one with --state-dir DIR (or TCBATCH_STATE_DIR), or --coordinator none \
             to create a token in each command",
        )
    }
}

/// `$XDG_STATE_HOME/tcbatch`, else `$HOME/.local/state/tcbatch`.
fn default_state_dir() -> Option<PathBuf> {
    state_dir_of(|name| std::env::var_os(name))
}

/// The default state directory under the environment `var` reads (the XDG base directory
/// specification: a relative `XDG_STATE_HOME` is ignored).
fn state_dir_of(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(state) = absolute("XDG_STATE_HOME") {
        return Some(state.join("tcbatch"));
    }
    absolute("HOME").map(|home| home.join(".local").join("state").join("tcbatch"))
}

/// Which coordinator a command uses, from `--coordinator` or the profile's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorChoice {
    /// The file of the state directory every tcbatch on this machine shares.
    Local,
    /// None: this process alone.
    None,
    /// A Redis every process on every machine shares.
    Redis(String),
}

impl CoordinatorChoice {
    /// The choice a `--coordinator` value (or its absence) names.
    pub fn of(value: Option<&str>) -> CoordinatorChoice {
        match value.map(str::trim) {
            None | Some("local") => CoordinatorChoice::Local,
            Some("none") => CoordinatorChoice::None,
            Some(url) => CoordinatorChoice::Redis(url.to_owned()),
        }
    }
}

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
    /// Where the processes on this account keep its tokens, its 10 token creations per 30
    /// minutes and each token's rate window: `local`, a file in --state-dir that every tcbatch
    /// on this machine shares (commands within a token's 60 minutes create one); a
    /// redis://HOST:PORT/DB URL, shared by every process on every machine that uses it (while
    /// it cannot be reached, nothing is sent); or `none`, this process alone. Default: the
    /// profile's, else local.
    #[arg(long, value_name = "local|none|URL")]
    pub coordinator: Option<String>,
    #[command(flatten)]
    pub state: StateDirArg,
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
            state_dir: &mut self.state.state_dir,
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

    /// Which coordinator these flags choose. The built-in simulator (`--mock`) starts empty
    /// and stops with the command: the tokens it makes are kept nowhere, so no state file
    /// is ever written for it.
    pub fn coordinator_choice(&self) -> CoordinatorChoice {
        match CoordinatorChoice::of(self.coordinator.as_deref()) {
            CoordinatorChoice::Local if self.mock => CoordinatorChoice::None,
            choice => choice,
        }
    }

    /// A client for `base_url` and `credentials` with these flags' tokens, rate limit and
    /// coordinator.
    ///
    /// # Errors
    /// A `--coordinator` that is not a Redis URL, or whose server refuses its credentials; a
    /// state directory that cannot be made.
    pub fn client_builder(
        &self,
        base_url: String,
        credentials: &Credentials,
    ) -> Result<tc_http::ClientBuilder> {
        let coordinator = self.coordinator(&base_url, credentials)?;
        let builder = credentials::client_builder(
            base_url,
            credentials,
            self.tokens(),
            self.rate_limit,
            self.rate_window_ms,
        );
        Ok(match coordinator {
            Some(coordinator) => builder.coordinator(coordinator),
            None => builder,
        })
    }

    /// The coordinator the client asks, if any.
    fn coordinator(
        &self,
        base_url: &str,
        credentials: &Credentials,
    ) -> Result<Option<std::sync::Arc<dyn tc_http::Coordinator>>> {
        Ok(match self.coordinator_choice() {
            CoordinatorChoice::None => None,
            CoordinatorChoice::Local => {
                let dir = self.state.dir()?;
                let coordinator = local_coordinator(&dir, base_url, credentials)?;
                Some(std::sync::Arc::new(coordinator))
            }
            CoordinatorChoice::Redis(url) => {
                let coordinator =
                    tc_redis::RedisCoordinator::new(&url, &credentials.client_account_id)
                        .context("--coordinator")?
                        .with_api(base_url);
                // A refused password is a mistake, as a wrong API key is: said now, exit 2,
                // rather than waited on forever.
                coordinator.check_credentials().context("--coordinator")?;
                eprintln!(
                    "tcbatch: sharing the account through Redis at {}",
                    coordinator.server()
                );
                Some(std::sync::Arc::new(coordinator))
            }
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

/// The local coordinator of `credentials`' account on `base_url`, in `dir`.
fn local_coordinator(
    dir: &Path,
    base_url: &str,
    credentials: &Credentials,
) -> Result<tc_local::LocalCoordinator> {
    tc_local::LocalCoordinator::open(
        dir,
        base_url,
        &credentials.client_account_id,
        &credentials.key_id,
    )
    .with_context(|| {
        format!(
            "cannot keep the account's tokens in the state directory {}: give another with \
             --state-dir DIR (or TCBATCH_STATE_DIR), or --coordinator none to create a token \
             in each command",
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_state_directory_is_xdgs_unless_given() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                let found = pairs.iter().find(|(key, _)| *key == name);
                found.map(|(_, value)| std::ffi::OsString::from(value))
            }
        };
        let xdg = env(&[("XDG_STATE_HOME", "/x/state"), ("HOME", "/home/u")]);
        assert_eq!(state_dir_of(xdg), Some(PathBuf::from("/x/state/tcbatch")));
        let relative = env(&[("XDG_STATE_HOME", "state"), ("HOME", "/home/u")]);
        let home = Some(PathBuf::from("/home/u/.local/state/tcbatch"));
        assert_eq!(state_dir_of(relative), home);
        assert_eq!(state_dir_of(env(&[])), None);
        let given = StateDirArg {
            state_dir: Some(PathBuf::from("elsewhere")),
        };
        assert_eq!(given.dir().unwrap(), PathBuf::from("elsewhere"));
    }

    #[test]
    fn the_local_coordinator_is_the_default_and_never_the_simulators() {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            connection: ConnectionArgs,
        }
        let choice = |args: &[&str]| {
            let argv = std::iter::once("tcbatch").chain(args.iter().copied());
            Cli::parse_from(argv).connection.coordinator_choice()
        };
        assert_eq!(choice(&[]), CoordinatorChoice::Local);
        assert_eq!(
            choice(&["--coordinator", "local"]),
            CoordinatorChoice::Local
        );
        assert_eq!(choice(&["--coordinator", "none"]), CoordinatorChoice::None);
        let redis = CoordinatorChoice::Redis("redis://127.0.0.1:6379/0".to_owned());
        assert_eq!(
            choice(&["--coordinator", "redis://127.0.0.1:6379/0"]),
            redis
        );
        assert_eq!(choice(&["--mock"]), CoordinatorChoice::None);
        assert_eq!(
            choice(&["--mock", "--coordinator", "local"]),
            CoordinatorChoice::None
        );
    }
}
