//! Where the API credentials come from: the environment or a file, never a flag (flags end up in
//! shell history and process listings), and never echoed.

use anyhow::{bail, Context, Result};
use secrecy::SecretString;
use std::path::Path;

// The names `tc_http::ClientBuilder::from_env` reads; the file and the flag are the CLI's own.
pub use tc_http::{ENV_API_KEY, ENV_CLIENT_ACCOUNT_ID, ENV_KEY_ID};

pub struct Credentials {
    pub client_account_id: String,
    pub key_id: String,
    pub api_key: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_account_id", &self.client_account_id)
            .field("key_id", &self.key_id)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// A value in matching double or single quotes loses them, as a shell would remove them;
/// `None` for a quote opened and never closed (or closed and never opened), which a shell
/// would refuse too, rather than a key with a stray quote that the API refuses later as a 401.
fn unquote(value: &str) -> Option<&str> {
    for quote in ['"', '\''] {
        let opened = value.starts_with(quote);
        let closed = value.len() > 1 && value.ends_with(quote);
        match (opened, closed) {
            (true, true) => return Some(&value[1..value.len() - 1]),
            (true, false) | (false, true) => return None,
            (false, false) => {}
        }
    }
    Some(value)
}

/// Fills `values` (indexed like `names`) from the `KEY=VALUE` lines of `file`.
fn read_file(file: &Path, names: &[&str; 3], values: &mut [Option<String>; 3]) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read credentials file {}", file.display()))?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            // Do not echo the line: it may hold the secret.
            bail!(
                "credentials file {} line {}: expected KEY=VALUE",
                file.display(),
                n + 1
            );
        };
        let key = key.trim().trim_start_matches("export ").trim();
        let Some(value) = unquote(value.trim()).map(str::to_owned) else {
            // Do not echo the value: it may be the secret.
            bail!(
                "credentials file {} line {}: the value of {key} opens a quote it never closes \
                 (or closes one it never opened); quote the whole value or none of it",
                file.display(),
                n + 1
            );
        };
        match names.iter().position(|&name| name == key) {
            Some(i) => values[i] = Some(value),
            None => bail!(
                "credentials file {} line {}: unknown key {key}; expected one of {}",
                file.display(),
                n + 1,
                names.join(", ")
            ),
        }
    }
    Ok(())
}

/// Reads `KEY=VALUE` lines from `file` if given, then fills what is missing from the environment.
/// `client_account_id` from the command line wins over both.
pub fn load(file: Option<&Path>, client_account_id: Option<&str>) -> Result<Credentials> {
    let mut values: [Option<String>; 3] = [None, None, None];
    let names = [ENV_CLIENT_ACCOUNT_ID, ENV_KEY_ID, ENV_API_KEY];
    if let Some(file) = file {
        read_file(file, &names, &mut values)?;
    }
    for (slot, name) in values.iter_mut().zip(names) {
        if slot.is_none() {
            *slot = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        }
    }
    if let Some(id) = client_account_id {
        values[0] = Some(id.to_owned());
    }
    match values {
        [Some(client_account_id), Some(key_id), Some(api_key)] => Ok(Credentials {
            client_account_id,
            key_id,
            api_key: SecretString::from(api_key),
        }),
        _ => {
            let missing: Vec<&str> = values
                .iter()
                .zip(names)
                .filter(|(v, _)| v.is_none())
                .map(|(_, n)| n)
                .collect();
            bail!(
                "missing credentials: set {} in the environment or in a --credentials file \
                 (KEY=VALUE lines); the Key ID and Secret API Key are on the business console's \
                 Manage API Keys page. To try tcbatch without an account, add --mock",
                missing.join(", ")
            )
        }
    }
}

/// The built-in simulator's demo account, for `--mock`.
pub(crate) fn demo(simulator: &tc_sim::Simulator) -> Credentials {
    let account = simulator.config();
    Credentials {
        client_account_id: account.client_account_id.clone(),
        key_id: account.key_id.clone(),
        api_key: account.api_key.clone().into(),
    }
}

/// A client of `base_url` for `credentials` on `tokens` tokens, each held to `rate_limit`
/// requests per `rate_window_ms`: what `submit` and `serve` share before their own settings.
pub(crate) fn client_builder(
    base_url: String,
    credentials: &Credentials,
    tokens: u8,
    rate_limit: u32,
    rate_window_ms: u64,
) -> tc_http::ClientBuilder {
    tc_http::Client::builder()
        .base_url(base_url)
        .client_account_id(credentials.client_account_id.clone())
        .key_id(credentials.key_id.clone())
        .api_key(credentials.api_key.clone())
        .tokens(usize::from(tokens))
        .rate_limit(rate_limit, std::time::Duration::from_millis(rate_window_ms))
        // The client's margin on each window (250 ms on the API's minute), kept in proportion
        // when a benchmark shortens the window.
        .rate_guard(
            std::time::Duration::from_millis(rate_window_ms / 240)
                .min(std::time::Duration::from_millis(250)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// Issue 13, item 11: single quotes are removed like double quotes.
    #[test]
    fn quotes_of_either_kind_are_removed_from_file_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "TRUECALLER_CLIENT_ACCOUNT_ID='acct'\nexport TRUECALLER_KEY_ID=\"key\"\n\
             TRUECALLER_API_KEY='it\"s'\n",
        )
        .unwrap();
        let credentials = load(Some(&file), None).unwrap();
        assert_eq!(credentials.client_account_id, "acct");
        assert_eq!(credentials.key_id, "key");
        assert_eq!(credentials.api_key.expose_secret(), "it\"s");
    }

    /// Issue 26, item 14: an unmatched quote is refused here, naming the line, not sent.
    #[test]
    fn an_unmatched_quote_is_refused_naming_the_line_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        for value in ["'abc", "abc'", "\"abc", "'"] {
            std::fs::write(
                &file,
                format!("TRUECALLER_CLIENT_ACCOUNT_ID=acct\nTRUECALLER_KEY_ID={value}\n"),
            )
            .unwrap();
            let error = load(Some(&file), None).unwrap_err().to_string();
            assert!(
                error.contains("line 2") && error.contains("TRUECALLER_KEY_ID"),
                "{error}"
            );
            assert!(!error.contains("abc"), "{error}");
        }
    }
}
