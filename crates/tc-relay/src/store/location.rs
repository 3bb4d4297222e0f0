//! [`StoreLocation`]: where a relay keeps its queue, a SQLite file of its own or a PostgreSQL
//! database several relays share, named the way operators write them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where the relay's queue lives. Parsed from `postgres://USER@HOST:PORT/DATABASE` (libpq's URL
/// form, `postgresql://` too, with `sslmode=disable|prefer|require`) or a file path.
///
/// Its `Display` and `Debug` never show a password.
///
/// ```
/// use tc_relay::StoreLocation;
/// let shared: StoreLocation = "postgres://relay:s3cret@db.internal:5432/tcbatch".parse()?;
/// assert_eq!(shared.to_string(), "postgres://relay:[redacted]@db.internal:5432/tcbatch");
/// let embedded: StoreLocation = "relay.db".parse()?;
/// assert!(matches!(embedded, StoreLocation::Sqlite(_)));
/// # Ok::<(), tc_relay::InvalidStoreLocation>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A SQLite file one relay holds (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database any number of relays share.
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL, checked when parsed; its password is never shown.
///
/// `sslmode` means what it means to libpq: `disable` no TLS; `prefer` (the default) TLS when
/// the server offers it; `require` TLS always; neither checks the server's certificate.
/// `verify-ca` and `verify-full` check it against the web's root certificates, or those of
/// the PEM file `sslrootcert` names, and the host name.
#[derive(Clone)]
pub struct PostgresUrl {
    text: String,
    // Boxed: the parsed configuration is large, and a location is mostly a path.
    config: Box<tokio_postgres::Config>,
    certificates: Certificates,
}

/// Whether the server's certificate is checked, and against what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Certificates {
    /// Encrypted but not authenticated, as libpq's `prefer` and `require`.
    Unchecked,
    /// Checked against the web's roots, or the roots of a PEM file.
    Checked { roots: Option<PathBuf> },
}

/// A store location that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a PostgreSQL URL this relay can use: {reason}; write it as postgres://USER@HOST:PORT/DATABASE")]
pub struct InvalidStoreLocation {
    shown: String,
    reason: String,
}

impl PostgresUrl {
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    pub(crate) fn certificates(&self) -> &Certificates {
        &self.certificates
    }
}

/// The URL as tokio-postgres reads it (its `sslmode` has no `verify-*` and it knows no
/// `sslrootcert`), and how certificates are checked.
fn split_tls(text: &str) -> Result<(String, Certificates), String> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok((text.to_owned(), Certificates::Unchecked));
    };
    let mut kept = Vec::new();
    let mut verify = false;
    let mut roots = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                verify = true;
                kept.push("sslmode=require".to_owned());
            }
            Some(("sslmode", "allow")) => kept.push("sslmode=prefer".to_owned()),
            Some(("sslrootcert", file)) => roots = Some(PathBuf::from(file)),
            _ => kept.push(pair.to_owned()),
        }
    }
    if roots.is_some() && !verify {
        return Err("sslrootcert needs sslmode=verify-full (or verify-ca)".to_owned());
    }
    let certificates = match verify {
        true => Certificates::Checked { roots },
        false => Certificates::Unchecked,
    };
    let text = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((text, certificates))
}

impl FromStr for PostgresUrl {
    type Err = InvalidStoreLocation;

    fn from_str(text: &str) -> Result<PostgresUrl, InvalidStoreLocation> {
        let invalid = |reason: String| InvalidStoreLocation {
            shown: redact(text),
            reason,
        };
        if !is_postgres_url(text) {
            return Err(invalid("it does not start with postgres://".to_owned()));
        }
        let (readable, certificates) = split_tls(text).map_err(invalid)?;
        // The parser's message may quote the text it could not read: a password among it.
        let config = readable
            .parse::<tokio_postgres::Config>()
            .map_err(|e| invalid(redact(&e.to_string())))?;
        if config.get_hosts().is_empty() {
            return Err(invalid("it names no host".to_owned()));
        }
        Ok(PostgresUrl {
            text: text.to_owned(),
            config: Box::new(config),
            certificates,
        })
    }
}

impl PartialEq for PostgresUrl {
    fn eq(&self, other: &PostgresUrl) -> bool {
        self.text == other.text
    }
}

impl Eq for PostgresUrl {}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.text))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&redact(&self.text))
            .finish()
    }
}

impl FromStr for StoreLocation {
    type Err = InvalidStoreLocation;

    fn from_str(text: &str) -> Result<StoreLocation, InvalidStoreLocation> {
        if is_postgres_url(text) {
            text.parse().map(StoreLocation::Postgres)
        } else {
            Ok(StoreLocation::Sqlite(PathBuf::from(text)))
        }
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> StoreLocation {
        StoreLocation::Sqlite(path)
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> StoreLocation {
        StoreLocation::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for StoreLocation {
    fn from(path: &PathBuf) -> StoreLocation {
        StoreLocation::Sqlite(path.clone())
    }
}

impl From<PostgresUrl> for StoreLocation {
    fn from(url: PostgresUrl) -> StoreLocation {
        StoreLocation::Postgres(url)
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreLocation::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The URL with its password replaced, as tc-core shows every URL.
fn redact(text: &str) -> String {
    tc_core::diagnostic::without_password(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown() {
        for (text, shown) in [
            (
                "postgres://relay:p@ss@W0rd@db:5432/q",
                "postgres://relay:[redacted]@db:5432/q",
            ),
            (
                "postgresql://relay@db/q?password=hunter2&sslmode=require",
                "postgresql://relay@db/q?password=[redacted]&sslmode=require",
            ),
            ("postgres://relay@db/q", "postgres://relay@db/q"),
        ] {
            let url: PostgresUrl = text.parse().unwrap();
            assert_eq!(url.to_string(), shown);
            assert!(!format!("{url:?}").contains("hunter2"));
            assert!(!format!("{url:?}").contains("W0rd"));
        }
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let error = "postgres://relay:hunter2@db/q?sslmode=maybe"
            .parse::<StoreLocation>()
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("postgres://USER@HOST"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn sslmode_means_what_it_means_to_libpq() {
        let url: PostgresUrl = "postgres://relay@db/q?sslmode=verify-full&sslrootcert=ca.pem"
            .parse()
            .unwrap();
        assert_eq!(
            url.certificates(),
            &Certificates::Checked {
                roots: Some(PathBuf::from("ca.pem"))
            }
        );
        assert_eq!(
            url.config().get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let url: PostgresUrl = "postgres://relay@db/q?sslmode=require".parse().unwrap();
        assert_eq!(url.certificates(), &Certificates::Unchecked);
        let url: PostgresUrl = "postgres://relay@db/q?sslmode=disable".parse().unwrap();
        assert_eq!(
            url.config().get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
    }

    #[test]
    fn anything_else_is_a_file() {
        let location: StoreLocation = "queue/relay.db".parse().unwrap();
        assert_eq!(
            location,
            StoreLocation::Sqlite(PathBuf::from("queue/relay.db"))
        );
    }
}
