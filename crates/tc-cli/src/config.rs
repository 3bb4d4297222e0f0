//! The config file: named profiles of settings an operator would otherwise repeat on every
//! command (`tcbatch.toml` in the working directory, or `--config PATH`), and `tcbatch config
//! show`, which prints what a command would use.
//!
//! ```toml
//! [profiles.bank]
//! region = "IN"
//! timezone = "Asia/Kolkata"
//! call_time = "Scheduled (IST)"
//! show_before = "15m"
//! show_after = "2h"
//! credentials = "bank.credentials"   # a file of KEY=VALUE lines, never the key itself
//!
//! [profiles.bank.map]
//! receiver_number = "Customer Mobile"
//! ```
//!
//! Flags override the profile. The file never holds a secret: a key that would (`api_key`,
//! `secret`, `password`, `token`) is refused, and no error quotes the file's text, so a secret
//! put there by mistake is not echoed either.

use crate::input_args::{InputArgs, ProfileArgs};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use tc_core::{NumberFormat, Region};
use tc_input::local_time::{DateFormat, Span, Window};
use tc_input::map::ColumnMap;
use tc_input::Format;
use tc_input::ReadOptions;

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tcbatch.toml";

/// Why the config file or a profile cannot be used: the command stops (exit status 2).
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, or holds a setting with a wrong value.
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    SecretInFile {
        path: PathBuf,
        line: usize,
        key: String,
    },
    UnknownProfile {
        path: PathBuf,
        name: String,
        known: Vec<String>,
    },
    NoConfigFile {
        profile: String,
    },
    /// Settings that contradict each other or are incomplete.
    Settings(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, .. } => {
                write!(
                    f,
                    "cannot read the config file {}; check the path given to --config (a \
                     relative path starts from the working directory)",
                    path.display()
                )
            }
            ConfigError::Invalid { path, line, reason } => write!(
                f,
                "the config file {} is not valid at line {line}: {reason}",
                path.display()
            ),
            ConfigError::SecretInFile { path, line, key } => write!(
                f,
                "the config file {} holds `{key}` at line {line}, and a config file never holds a \
                 secret: remove that line, put the key in a credentials file of KEY=VALUE lines \
                 (TRUECALLER_API_KEY=...) readable only by you, and name that file in the profile \
                 with credentials = \"PATH\"",
                path.display()
            ),
            ConfigError::UnknownProfile { path, name, known } => {
                let known = if known.is_empty() {
                    "it has none".to_owned()
                } else {
                    format!("its profiles are {}", known.join(", "))
                };
                write!(
                    f,
                    "the config file {} has no profile `{name}`; {known}. Add [profiles.{name}] \
                     to it, or give another --profile",
                    path.display()
                )
            }
            ConfigError::NoConfigFile { profile } => write!(
                f,
                "--profile {profile} needs a config file, and there is no {DEFAULT_CONFIG_FILE} \
                 in the working directory: give its path with --config PATH"
            ),
            ConfigError::Settings(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One profile of the config file. Every setting is optional; a flag given overrides it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub region: Option<Region>,
    #[serde(default)]
    pub map: ColumnMap,
    pub timezone: Option<tc_input::local_time::Zone>,
    pub date_format: Option<DateFormat>,
    pub call_time: Option<String>,
    pub show_before: Option<Span>,
    pub show_after: Option<Span>,
    pub number_format: Option<NumberFormat>,
    pub tokens: Option<u8>,
    pub base_url: Option<String>,
    /// A credentials file, relative to the config file.
    pub credentials: Option<PathBuf>,
    /// Where the processes sharing the account coordinate: `local`, `none` or a Redis URL.
    pub coordinator: Option<String>,
    /// The local coordinator's state directory, relative to the config file.
    pub state_dir: Option<PathBuf>,
    /// The relay's queue (`tcbatch serve --store`): a SQLite file or a PostgreSQL URL.
    pub store: Option<String>,
    /// Keys a secret would be written under: present only to be refused with their line.
    #[serde(
        default,
        alias = "TRUECALLER_API_KEY",
        alias = "key",
        alias = "secret",
        alias = "password",
        alias = "token",
        alias = "access_token"
    )]
    api_key: Option<toml::Spanned<toml::Value>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The profile that applies to a command, and the file it came from.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub file: Option<PathBuf>,
    pub name: Option<String>,
    pub profile: Profile,
}

impl Settings {
    /// Reads the config file and picks the profile `args` name. Without `--profile` no profile
    /// applies (the file is still checked, so a broken file is never silently skipped).
    pub fn load(args: &ProfileArgs) -> Result<Settings, ConfigError> {
        let path = match &args.config {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let Some(path) = path else {
            return match &args.profile {
                Some(profile) => Err(ConfigError::NoConfigFile {
                    profile: profile.clone(),
                }),
                None => Ok(Settings::default()),
            };
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut profiles = parse(&path, &text)?;
        let Some(name) = &args.profile else {
            return Ok(Settings {
                file: Some(path),
                ..Settings::default()
            });
        };
        let Some(mut profile) = profiles.remove(name) else {
            return Err(ConfigError::UnknownProfile {
                path,
                name: name.clone(),
                known: profiles.into_keys().collect(),
            });
        };
        // A credentials file and a state directory are named relative to the config file,
        // wherever the command runs.
        let dir = path.parent().unwrap_or(Path::new(""));
        if let Some(credentials) = &profile.credentials {
            profile.credentials = Some(dir.join(credentials));
        }
        if let Some(state_dir) = &profile.state_dir {
            profile.state_dir = Some(dir.join(state_dir));
        }
        Ok(Settings {
            file: Some(path),
            name: Some(name.clone()),
            profile,
        })
    }

    /// How to read the input: the flags of `args` over the profile's settings.
    pub fn read_options(
        &self,
        args: &InputArgs,
        format: Option<Format>,
    ) -> Result<ReadOptions, ConfigError> {
        let profile = &self.profile;
        let mut map = profile.map.clone();
        for entry in &args.map {
            map.insert(entry.clone());
        }
        let call_time = args.call_time.clone().or(profile.call_time.clone());
        let before = args.show_before.or(profile.show_before);
        let after = args.show_after.or(profile.show_after);
        let window =
            match (&call_time, before, after) {
                (Some(call_time), Some(before), Some(after)) => Some(
                    Window::new(call_time.clone(), before, after)
                        .map_err(|err| ConfigError::Settings(err.to_string()))?,
                ),
                (None, None, None) => None,
                (Some(_), _, _) => {
                    return Err(ConfigError::Settings(
                        "--call-time needs --show-before and --show-after (or show_before and \
                     show_after in the profile): how long before and after the call the phone \
                     shows the caller ID, such as --show-before 15m --show-after 2h"
                            .to_owned(),
                    ))
                }
                (None, _, _) => return Err(ConfigError::Settings(
                    "--show-before and --show-after need --call-time HEADER: the column of the \
                     planned call time the window is derived from"
                        .to_owned(),
                )),
            };
        Ok(ReadOptions::builder()
            .format(format)
            .column_map(map)
            .window(window)
            .delimiter(args.delimiter.map(|d| d.0))
            .sheet(args.sheet.clone())
            .time_zone(args.timezone.clone().or(profile.timezone.clone()))
            .date_format(args.date_format.clone().or(profile.date_format.clone()))
            .build())
    }

    /// The region for numbers written without a country code: the flag's, else the profile's.
    pub fn region(&self, flag: Option<Region>) -> Option<Region> {
        flag.or(self.profile.region)
    }

    pub fn number_format(&self, flag: Option<NumberFormat>) -> NumberFormat {
        flag.or(self.profile.number_format).unwrap_or_default()
    }

    /// Fills the connection settings that no flag gave from the profile: the one place a
    /// profile's tokens, base URL, credentials file, coordinator and state directory reach a
    /// command.
    pub fn apply_connection(&self, connection: Connection<'_>) -> Result<(), ConfigError> {
        let profile = &self.profile;
        if let Some(tokens) = profile.tokens.filter(|t| !(1..=10).contains(t)) {
            return Err(self.invalid_setting(
                "tokens",
                &format!("{tokens} is not a number of tokens from 1 to 10"),
            ));
        }
        if connection.tokens.is_none() {
            *connection.tokens = profile.tokens;
        }
        if connection.base_url.is_none() {
            connection.base_url.clone_from(&profile.base_url);
        }
        if connection.credentials.is_none() {
            connection.credentials.clone_from(&profile.credentials);
        }
        if connection.coordinator.is_none() {
            connection.coordinator.clone_from(&profile.coordinator);
        }
        if connection.state_dir.is_none() {
            connection.state_dir.clone_from(&profile.state_dir);
        }
        Ok(())
    }

    fn invalid_setting(&self, key: &str, why: &str) -> ConfigError {
        let profile = self.name.as_deref().unwrap_or("?");
        ConfigError::Settings(format!(
            "the config file {}, profile {profile}, `{key}`: {why}",
            self.file.as_deref().unwrap_or(Path::new("?")).display()
        ))
    }
}

/// The connection flags of a command, to be filled from the profile where not given.
pub struct Connection<'a> {
    pub base_url: &'a mut Option<String>,
    pub tokens: &'a mut Option<u8>,
    pub credentials: &'a mut Option<PathBuf>,
    pub coordinator: &'a mut Option<String>,
    pub state_dir: &'a mut Option<PathBuf>,
}

/// The profiles of a config file's text. Errors give the line and TOML's reason, never the
/// line's text: it may hold a secret.
fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Profile>, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let file: ConfigFile = toml::from_str(text).map_err(|err| ConfigError::Invalid {
        path: path.to_owned(),
        line: err.span().map_or(1, |span| line_of(span.start)),
        reason: err.message().trim().to_owned(),
    })?;
    for profile in file.profiles.values() {
        if let Some(secret) = &profile.api_key {
            let start = secret.span().start;
            // The key as written: the text from the line's start up to the `=`.
            let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
            let key = text[line_start..start]
                .trim_end()
                .trim_end_matches('=')
                .trim()
                .to_owned();
            return Err(ConfigError::SecretInFile {
                path: path.to_owned(),
                line: line_of(start),
                key,
            });
        }
    }
    Ok(file.profiles)
}

/// `tcbatch config`: the config file's settings.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the settings a command would use with these flags: the profile's, overridden by
    /// the flags, with every secret redacted.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Default region (ISO 3166, such as IN) for numbers written without + or 00.
    #[arg(long, value_name = "CC")]
    pub region: Option<Region>,
    #[command(flatten)]
    pub state: crate::connection::StateDirArg,
}

pub fn run(args: ConfigArgs) -> Result<(), ConfigError> {
    let ConfigCommand::Show(show) = args.command;
    let settings = Settings::load(&show.input.profile)?;
    let read = settings.read_options(&show.input, None)?;
    let (mut base_url, mut tokens, mut credentials, mut coordinator) = (None, None, None, None);
    let mut state = show.state;
    settings.apply_connection(Connection {
        base_url: &mut base_url,
        tokens: &mut tokens,
        credentials: &mut credentials,
        coordinator: &mut coordinator,
        state_dir: &mut state.state_dir,
    })?;
    let mut out = Vec::new();
    let quoted = |value: &dyn fmt::Display| format!("\"{}\"", value.to_string().escape_debug());
    let file = settings.file.as_ref().map(|p| p.display().to_string());
    out.push(("config file", file.unwrap_or_else(|| "none".to_owned())));
    out.push((
        "profile",
        settings.name.clone().unwrap_or_else(|| "none".to_owned()),
    ));
    let region = settings.region(show.region);
    out.push(("region", region.map_or("none".to_owned(), |r| quoted(&r))));
    let times = read.time_reading();
    out.push(("timezone", opt(times.zone(), &quoted)));
    out.push(("date_format", opt(times.date_format(), &quoted)));
    if let Some(window) = times.window() {
        out.push(("call_time", quoted(&window.call_time())));
        out.push(("show_before", quoted(&window.before())));
        out.push(("show_after", quoted(&window.after())));
    }
    out.push(("number_format", quoted(&settings.number_format(None))));
    out.push(("tokens", tokens.unwrap_or(1).to_string()));
    out.push((
        "base_url",
        quoted(&base_url.unwrap_or_else(|| tc_http::DEFAULT_BASE_URL.to_owned())),
    ));
    out.push(("credentials", credentials_shown(credentials.as_deref())));
    out.extend(coordinator_shown(coordinator.as_deref(), &state, &quoted));
    if let Some(store) = &settings.profile.store {
        // Shown as the relay shows it: a PostgreSQL URL without its password.
        let shown = match store.parse::<tc_relay::StoreLocation>() {
            Ok(location) => location.to_string(),
            Err(error) => format!("invalid: {error}"),
        };
        out.push(("store", quoted(&shown)));
    }
    for (key, value) in out {
        println!("{key} = {value}");
    }
    for entry in read.column_map().entries() {
        println!("map.{} = {}", entry.field(), quoted(&entry.header()));
    }
    Ok(())
}

/// Which coordinator a command would use: `local` with its state directory, `none`, or the
/// Redis URL without its password.
fn coordinator_shown(
    coordinator: Option<&str>,
    state: &crate::connection::StateDirArg,
    quoted: &dyn Fn(&dyn fmt::Display) -> String,
) -> Vec<(&'static str, String)> {
    use crate::connection::CoordinatorChoice;
    match CoordinatorChoice::of(coordinator) {
        CoordinatorChoice::Local => {
            let dir = match state.dir() {
                Ok(dir) => quoted(&dir.display()),
                Err(_) => "none (set HOME or give --state-dir)".to_owned(),
            };
            vec![("coordinator", "local".to_owned()), ("state_dir", dir)]
        }
        CoordinatorChoice::None => vec![("coordinator", "none".to_owned())],
        CoordinatorChoice::Redis(url) => {
            let url = tc_core::diagnostic::without_password(&url);
            vec![("coordinator", quoted(&url))]
        }
    }
}

fn opt<T: fmt::Display>(value: Option<&T>, quoted: &dyn Fn(&dyn fmt::Display) -> String) -> String {
    value.map_or("none".to_owned(), |v| quoted(v))
}

/// Where the credentials come from, with the key redacted: the file, else the environment.
fn credentials_shown(file: Option<&Path>) -> String {
    use crate::submit::credentials::{ENV_API_KEY, ENV_CLIENT_ACCOUNT_ID, ENV_KEY_ID};
    match file {
        Some(path) if path.is_file() => format!(
            "\"{}\" ({ENV_API_KEY} [redacted])",
            path.display().to_string().escape_debug()
        ),
        Some(path) => format!(
            "\"{}\" (no such file yet: create it with {ENV_CLIENT_ACCOUNT_ID}, {ENV_KEY_ID} and \
             {ENV_API_KEY} lines)",
            path.display().to_string().escape_debug()
        ),
        None => {
            let set = std::env::var_os(ENV_API_KEY).is_some();
            format!(
                "the environment ({ENV_API_KEY} {})",
                if set { "[redacted]" } else { "not set" }
            )
        }
    }
}
