//! `tcbatch check`: proves the credentials work before a push, at the cost of one token
//! creation at most (a token the coordinator keeps is reused: it opens only under the same
//! API key), and shows what the account can see. Never shows the key or the token.

use crate::connection::ConnectionArgs;
use crate::submit::OutputArg;
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "It creates one access token, unless an earlier command on this machine \
                        left one still valid in the state directory (the local coordinator): \
                        that one is reused, as every later command within its 60 minutes \
                        reuses it. The API allows 10 token creations per account in any 30 \
                        minutes.\n\nExit status: 0 when a token was created or reused and the \
                        labels read; 2 on a usage error, missing or refused credentials, or an \
                        unreachable API."
)]
pub struct CheckArgs {
    /// Plain sentences, or one JSON object on standard output.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    pub output: OutputArg,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub profile: crate::input_args::ProfileArgs,
}

/// What the check saw: nothing secret.
struct Seen {
    base_url: String,
    client_account_id: String,
    tokens_created: u64,
    /// Tokens taken from the coordinator: created by an earlier command.
    tokens_reused: u64,
    token_ttl: Duration,
    /// When the token should expire: the local clock when it was created, plus its lifetime.
    expires_at: Option<time::OffsetDateTime>,
    labels: Result<usize, tc_http::Error>,
}

pub fn run(mut args: CheckArgs) -> Result<ExitCode> {
    args.connection.apply_profile_of(&args.profile)?;
    let runtime = crate::runtime()?;
    let seen = runtime.block_on(look(&args))?;
    let mut out = std::io::stdout().lock();
    match args.output {
        OutputArg::Human => print_human(&mut out, &seen)?,
        OutputArg::Json => writeln!(out, "{}", json(&seen))?,
    }
    out.flush()?;
    match seen.labels {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(error) => Err(anyhow::Error::new(error).context(
            "the check could not read the account's labels; fix what the message names and run \
             tcbatch check again",
        )),
    }
}

/// One labels read: its first request creates the token, the rest is what the account shows.
async fn look(args: &CheckArgs) -> Result<Seen> {
    let connection = args.connection.connect().await?;
    let client = &connection.client;
    let created_near = time::OffsetDateTime::now_utc();
    let labels = client.labels().await.map(|labels| labels.len());
    let tokens_created = client.stats().tokens_created;
    let tokens_reused = client.stats().shared_tokens;
    let token_ttl = client.config().token_ttl();
    let seen = Seen {
        base_url: connection.base_url().to_owned(),
        client_account_id: client.config().client_account_id().to_owned(),
        tokens_created,
        tokens_reused,
        token_ttl,
        expires_at: (tokens_created > 0).then(|| created_near + token_ttl),
        labels,
    };
    connection.close().await;
    Ok(seen)
}

fn print_human(out: &mut impl Write, seen: &Seen) -> std::io::Result<()> {
    writeln!(out, "base URL: {}", seen.base_url)?;
    writeln!(out, "client account id: {}", seen.client_account_id)?;
    match seen.expires_at {
        Some(expires_at) => writeln!(
            out,
            "token: created; valid for {} minutes, until about {}",
            seen.token_ttl.as_secs() / 60,
            rfc3339(expires_at)
        )?,
        None if seen.tokens_reused > 0 => writeln!(
            out,
            "token: reused, created by an earlier command on this machine within its {} minutes",
            seen.token_ttl.as_secs() / 60
        )?,
        None => writeln!(out, "token: not created")?,
    }
    writeln!(
        out,
        "token creations used: {} of the account's 10 per 30 minutes",
        seen.tokens_created
    )?;
    match &seen.labels {
        Ok(count) => writeln!(out, "labels: {count} (tcbatch labels lists them)"),
        Err(_) => writeln!(out, "labels: not read"),
    }
}

fn json(seen: &Seen) -> serde_json::Value {
    serde_json::json!({
        "base_url": seen.base_url,
        "client_account_id": seen.client_account_id,
        "token_created": seen.tokens_created > 0,
        "token_reused": seen.tokens_reused > 0,
        "token_expires_at": seen.expires_at.map(rfc3339),
        "token_creations_used": seen.tokens_created,
        "labels": seen.labels.as_ref().ok(),
        "error": seen.labels.as_ref().err().map(ToString::to_string),
    })
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
