//! What happens to a batch that may be stored: the API has no idempotency key, so a create
//! request whose outcome is unknown forces a choice between a possible duplicate and a
//! possible loss.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What is done with a create request whose outcome is unknown (sent, and no answer says
/// whether it was stored).
///
/// ```
/// use tc_engine::Guarantee;
///
/// assert_eq!(Guarantee::default(), Guarantee::AtLeastOnce);
/// assert_eq!("at-most-once".parse::<Guarantee>(), Ok(Guarantee::AtMostOnce));
/// assert_eq!(Guarantee::AtMostOnce.to_string(), "at-most-once");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Guarantee {
    /// Send it again, flagged *possibly duplicated*: a duplicate shows the caller's name twice,
    /// a loss shows the customer an unknown number.
    #[default]
    AtLeastOnce,
    /// Never send it again: its records end *unknown*.
    AtMostOnce,
}

impl Guarantee {
    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Guarantee::AtLeastOnce => "at-least-once",
            Guarantee::AtMostOnce => "at-most-once",
        }
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no guarantee.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a guarantee: use at-least-once or at-most-once")]
pub struct InvalidGuarantee(String);

impl FromStr for Guarantee {
    type Err = InvalidGuarantee;

    fn from_str(text: &str) -> Result<Guarantee, InvalidGuarantee> {
        [Guarantee::AtLeastOnce, Guarantee::AtMostOnce]
            .into_iter()
            .find(|g| g.as_str() == text)
            .ok_or_else(|| InvalidGuarantee(tc_core::diagnostic::excerpt(text)))
    }
}
